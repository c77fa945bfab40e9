import { type Static, Type } from 'typebox';

/** Largest id PostgreSQL's `integer` holds. */
export const MAX_ID = 2_147_483_647;

export const ErrorSchema = Type.Object(
  {
    error: Type.Object({
      code: Type.String(),
      message: Type.String(),
      details: Type.Optional(Type.Unknown()),
    }),
  },
  { description: 'Every error answer' },
);

export const IdParamsSchema = Type.Object(
  { id: Type.Integer({ minimum: 1, maximum: MAX_ID, description: 'session id' }) },
  { additionalProperties: false },
);
export type IdParams = Static<typeof IdParamsSchema>;

export const PageQueryFields = {
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 })),
  page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
};

export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) =>
  Type.Union([schema, Type.Null()]);

export const DateTime = Type.String({ format: 'date-time' });

/** Responses every authenticated route can give. */
export const authErrors = {
  400: ErrorSchema,
  401: ErrorSchema,
};

export const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);
