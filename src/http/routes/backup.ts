import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { BackupError, MIN_PASSPHRASE_LENGTH } from '../../backup/backup-file.js';
import {
  type BackupService,
  backupFileName,
  backupToText,
  DUPLICATE_IMPORT_WARNING,
} from '../../backup/backup-service.js';
import { ApiError } from '../errors.js';
import { ErrorSchema, IdParamsSchema, MAX_ID } from '../schemas/common.js';

declare module 'fastify' {
  interface FastifyInstance {
    backupService: BackupService;
  }
}

/** Largest backup an import takes (the app's default body limit is far smaller). */
export const IMPORT_BODY_LIMIT = 5 * 1024 * 1024;

const tags = ['backup'];
const security = [{ bearerAuth: [] }];

const PassphraseHeadersSchema = Type.Object({
  'x-backup-passphrase': Type.Optional(
    Type.String({
      description: `At least ${MIN_PASSPHRASE_LENGTH} characters. Absent: the server's own key (kdf "server-key").`,
    }),
  ),
});

const BackupFileSchema = Type.Object(
  {
    format: Type.Literal('wa-supervisor/session-backup'),
    version: Type.Literal(1),
    session_id: Type.Integer(),
    usuario_id: Type.Integer(),
    device_name: Type.String(),
    phone_number: Type.Union([Type.String(), Type.Null()]),
    auto_reconnect: Type.Boolean(),
    proxy_enabled: Type.Boolean(),
    proxy_url: Type.Union([Type.String(), Type.Null()], { description: 'password masked' }),
    created_at: Type.String(),
    connected_at: Type.Union([Type.String(), Type.Null()]),
    export_timestamp: Type.String(),
    encryption: Type.Object({}, { additionalProperties: true }),
    session_data: Type.String({ description: 'base64 of ciphertext ‖ 16-byte GCM tag' }),
  },
  { description: 'Backup file, contract version 1 (src/backup/README.md)' },
);

const ImportQuerySchema = Type.Object(
  {
    owner: Type.Optional(
      Type.Integer({ minimum: 1, maximum: MAX_ID, description: 'admins only: the owner of the new session' }),
    ),
  },
  { additionalProperties: false },
);

const ImportReplySchema = Type.Object({
  message: Type.String(),
  session_id: Type.Integer(),
  created: Type.Literal(true),
  warning: Type.String(),
});

const toApiError = (err: unknown) =>
  err instanceof BackupError ? new ApiError(err.status, err.code, err.message) : err;

/** GET /sessions/{id}/export/ and POST /sessions/import/ (DESIGN: backup file, version 1). */
const backupRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // The import body is the backup file as sent, parsed and checked by the backup module, so that a
  // truncated or malformed file is a 422 like every other bad backup. curl --data-binary sends it
  // as x-www-form-urlencoded unless told otherwise, and fetch a string as text/plain, so those are taken too.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    ['application/json', 'application/octet-stream', 'application/x-www-form-urlencoded', 'text/plain'],
    { parseAs: 'string', bodyLimit: IMPORT_BODY_LIMIT },
    (_request, body, done) => done(null, body),
  );

  app.get(
    '/sessions/:id/export/',
    {
      schema: {
        tags,
        security,
        summary: 'Download a session as an encrypted backup file',
        params: IdParamsSchema,
        headers: PassphraseHeadersSchema,
        response: {
          200: BackupFileSchema,
          400: ErrorSchema,
          401: ErrorSchema,
          404: ErrorSchema,
          409: ErrorSchema,
        },
      },
    },
    async (request, reply) => {
      const { caller } = request;
      const file = await app.backupService
        .exportSession(request.params.id, {
          passphrase: request.headers['x-backup-passphrase'],
          usuarioId: caller.admin ? undefined : caller.usuarioId,
        })
        .catch((err) => {
          throw toApiError(err);
        });
      return (
        reply
          .header('content-disposition', `attachment; filename="${backupFileName(request.params.id)}"`)
          .header('cache-control', 'no-store')
          .type('application/json; charset=utf-8')
          // Already JSON text: Fastify sends a string as it is, so the file keeps its field order and layout.
          .send(backupToText(file) as never)
      );
    },
  );

  app.post(
    '/sessions/import/',
    {
      bodyLimit: IMPORT_BODY_LIMIT,
      schema: {
        tags,
        security,
        summary: 'Restore a backup file as a new session of the caller (idle, stopped)',
        headers: PassphraseHeadersSchema,
        querystring: ImportQuerySchema,
        response: {
          201: ImportReplySchema,
          400: ErrorSchema,
          401: ErrorSchema,
          413: ErrorSchema,
          422: ErrorSchema,
        },
      },
    },
    async (request, reply) => {
      const { caller } = request;
      const { owner } = request.query;
      if (owner !== undefined && owner !== caller.usuarioId && !caller.admin) {
        throw new ApiError(400, 'owner_not_allowed', 'only an admin may import a backup for another owner');
      }
      const body = request.body;
      const { sessionId } = await app.backupService
        .importSession(typeof body === 'string' ? body : '', {
          passphrase: request.headers['x-backup-passphrase'],
          usuarioId: owner ?? caller.usuarioId,
        })
        .catch((err) => {
          throw toApiError(err);
        });
      app.sessionService.rowsChanged();
      request.log.info({ session_id: sessionId }, 'session imported from a backup');
      return reply.code(201).send({
        message: 'Session created',
        session_id: sessionId,
        created: true as const,
        warning: DUPLICATE_IMPORT_WARNING,
      });
    },
  );
};

export default backupRoutes;
