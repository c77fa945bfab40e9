import { type Static, Type } from 'typebox';
import { maskUrlPassword } from '../../logger.js';
import type { SessionState } from '../../sessions/session-service.js';
import { DateTime, iso, Nullable, PageQueryFields } from './common.js';

export const SESSION_STATUSES = ['idle', 'connecting', 'qr', 'connected', 'backoff', 'failed'] as const;

export const SessionStatusSchema = Type.Union([
  Type.Literal('idle'),
  Type.Literal('connecting'),
  Type.Literal('qr'),
  Type.Literal('connected'),
  Type.Literal('backoff'),
  Type.Literal('failed'),
]);

const DeviceName = Type.String({ minLength: 1, maxLength: 100 });
const PhoneNumber = Type.String({
  pattern: '^[0-9]{7,15}$',
  description: 'digits only, country code first (E.164 without +)',
});
const ProxyUrl = Type.String({
  maxLength: 2048,
  description: 'scheme://[user[:password]@]host:port; scheme http, https, socks4, socks4a, socks5 or socks5h',
});

export const SessionSchema = Type.Object(
  {
    id: Type.Integer(),
    usuario_id: Type.Integer(),
    device_name: Type.String(),
    phone_number: Nullable(Type.String()),
    status: SessionStatusSchema,
    desired_state: Type.Union([Type.Literal('running'), Type.Literal('stopped')]),
    auto_reconnect: Type.Boolean(),
    attempt: Type.Integer(),
    max_attempts: Type.Integer(),
    next_retry_at: Nullable(DateTime),
    failure_reason: Nullable(Type.String()),
    last_error: Nullable(
      Type.Object({ code: Type.Integer(), reason: Type.String(), message: Type.String(), at: DateTime }),
    ),
    proxy_enabled: Type.Boolean(),
    proxy_url: Nullable(Type.String({ description: 'password masked as ***' })),
    created_at: DateTime,
    updated_at: DateTime,
    connected_at: Nullable(DateTime),
    disconnected_at: Nullable(DateTime),
    last_reconnect_at: Nullable(DateTime),
  },
  { description: 'A session: stored fields with the live status of its actor' },
);
export type SessionDto = Static<typeof SessionSchema>;

export const CreateSessionBodySchema = Type.Object(
  {
    device_name: DeviceName,
    phone_number: Type.Optional(Nullable(PhoneNumber)),
    auto_reconnect: Type.Optional(Type.Boolean({ default: true })),
    proxy_enabled: Type.Optional(Type.Boolean({ default: false })),
    proxy_url: Type.Optional(Nullable(ProxyUrl)),
    start: Type.Optional(Type.Boolean({ default: false, description: 'connect at once' })),
  },
  { additionalProperties: false },
);

export const UpdateSessionBodySchema = Type.Object(
  {
    device_name: Type.Optional(DeviceName),
    phone_number: Type.Optional(Nullable(PhoneNumber)),
    auto_reconnect: Type.Optional(Type.Boolean()),
    proxy_enabled: Type.Optional(Type.Boolean()),
    proxy_url: Type.Optional(Nullable(ProxyUrl)),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const ListSessionsQuerySchema = Type.Object(
  { ...PageQueryFields, status: Type.Optional(SessionStatusSchema) },
  { additionalProperties: false },
);

export const SessionPageSchema = Type.Object({
  items: Type.Array(SessionSchema),
  total: Type.Integer(),
  page: Type.Integer(),
  page_size: Type.Integer(),
});

export const ReconnectReplySchema = Type.Object({
  message: Type.String(),
  task_id: Type.String({ format: 'uuid' }),
  session_id: Type.Integer(),
});

export const QrReplySchema = Type.Object({
  qr: Type.String(),
  expires_at: Nullable(DateTime),
});

export const PairingCodeBodySchema = Type.Object(
  { phone_number: PhoneNumber },
  { additionalProperties: false },
);
export const PairingCodeReplySchema = Type.Object({ code: Type.String() });

export const StatusSummarySchema = Type.Object({
  total: Type.Integer(),
  by_status: Type.Object(Object.fromEntries(SESSION_STATUSES.map((s) => [s, Type.Integer()]))),
  sessions: Type.Array(
    Type.Object({
      id: Type.Integer(),
      device_name: Type.String(),
      status: SessionStatusSchema,
      desired_state: Type.String(),
      attempt: Type.Integer(),
      next_retry_at: Nullable(DateTime),
      failure_reason: Nullable(Type.String()),
    }),
  ),
});

export const EventsQuerySchema = Type.Object(
  { ...PageQueryFields, task_id: Type.Optional(Type.String({ format: 'uuid' })) },
  { additionalProperties: false },
);

export const EventSchema = Type.Object({
  id: Type.String(),
  at: DateTime,
  from: Type.String(),
  to: Type.String(),
  event: Type.String(),
  attempt: Type.Integer(),
  delay_ms: Nullable(Type.Integer()),
  reason: Nullable(Type.String()),
  code: Nullable(Type.Integer()),
  task_id: Nullable(Type.String()),
});

export const EventPageSchema = Type.Object({
  items: Type.Array(EventSchema),
  total: Type.Integer(),
  page: Type.Integer(),
  page_size: Type.Integer(),
});

const msDate = (ms: number | null | undefined) => (ms == null ? null : new Date(ms).toISOString());

/** The API's view of a session: stored fields from the row, live status from the actor. */
export function toSessionDto({ record: r, view: v, maxAttempts }: SessionState): SessionDto {
  const lastError = v ? v.lastError : r.lastError ? { ...r.lastError, at: r.lastError.at.getTime() } : null;
  return {
    id: r.id,
    usuario_id: r.usuarioId,
    device_name: r.deviceName,
    phone_number: r.phoneNumber,
    status: v?.status ?? 'idle',
    desired_state: r.desiredState,
    auto_reconnect: r.autoReconnect,
    attempt: v?.attempt ?? 0,
    max_attempts: v?.maxAttempts ?? maxAttempts,
    next_retry_at: msDate(v?.nextRetryAt),
    failure_reason: v?.failureReason ?? null,
    last_error: lastError && { ...lastError, at: new Date(lastError.at).toISOString() },
    proxy_enabled: r.proxyEnabled,
    proxy_url: r.proxyUrl ? maskUrlPassword(r.proxyUrl) : null,
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
    connected_at: v?.connectedAt ? msDate(v.connectedAt) : iso(r.connectedAt),
    disconnected_at: iso(r.disconnectedAt),
    last_reconnect_at: iso(r.lastReconnectAt),
  };
}
