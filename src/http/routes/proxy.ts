import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ServiceError } from '../../sessions/errors.js';
import type { ProxyChecker } from '../../whatsapp/proxy.js';
import { ErrorSchema, IdParamsSchema } from '../schemas/common.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Opens and closes a tunnel through a proxy to the WhatsApp WebSocket host. */
    proxyChecker: ProxyChecker;
  }
}

export const ProxyCheckReplySchema = Type.Object(
  {
    ok: Type.Boolean(),
    latency_ms: Type.Integer({ minimum: 0, description: 'until the tunnel was open, or until it failed' }),
    error: Type.Optional(Type.String({ description: 'what happened at the proxy; never its credentials' })),
  },
  { description: 'The outcome of one tunnel through the session’s proxy' },
);

/** POST /sessions/{id}/proxy/check/, under /api/v1/whatsapp. Authentication is the parent's hook. */
const proxyRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/sessions/:id/proxy/check/',
    {
      schema: {
        tags: ['sessions'],
        security: [{ bearerAuth: [] }],
        summary:
          'Open a TCP connection through the session’s proxy_url to the WhatsApp WebSocket host, then close it',
        params: IdParamsSchema,
        response: {
          200: ProxyCheckReplySchema,
          400: ErrorSchema,
          401: ErrorSchema,
          404: ErrorSchema,
          409: ErrorSchema,
          429: ErrorSchema,
        },
      },
      config: { rateLimit: app.perSessionRateLimit },
    },
    async (request) => {
      // The same ownership rule as every session route: another user's session is 404.
      const { record } = await app.sessionService.get(request.caller, request.params.id);
      // Checked whether or not proxy_enabled is on, so that a proxy can be tried before it is used.
      if (!record.proxyUrl) throw new ServiceError('conflict', 'no_proxy', 'the session has no proxy_url');
      const { ok, latencyMs, error } = await app.proxyChecker(record.proxyUrl);
      return { ok, latency_ms: latencyMs, ...(error ? { error } : {}) };
    },
  );
};

export default proxyRoutes;
