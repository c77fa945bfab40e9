import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ErrorSchema } from '../schemas/common.js';
import { SESSION_STATUSES } from '../schemas/session.js';

const Status = Type.Object({ status: Type.String() });
const Health = Type.Object({
  status: Type.String(),
  sessions: Type.Optional(
    Type.Object({
      total: Type.Integer(),
      by_status: Type.Object(Object.fromEntries(SESSION_STATUSES.map((s) => [s, Type.Integer()]))),
    }),
  ),
});

/**
 * Liveness and readiness, outside the API base and without authentication. `/healthz` counts the
 * sessions per status from the actors in memory (no database, no ids): cheap enough for a probe.
 */
const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const counts = app.hasDecorator('observability') ? app.observability.sessionCounts : undefined;
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['operations'],
        summary: 'The process is alive; sessions per status',
        response: { 200: Health },
      },
    },
    async () => {
      if (!counts) return { status: 'ok' };
      const by_status = counts();
      const total = Object.values(by_status).reduce((a, b) => a + b, 0);
      return { status: 'ok', sessions: { total, by_status } };
    },
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        summary: 'The database answers and the supervisor runs',
        response: { 200: Status, 503: ErrorSchema },
      },
    },
    async (request, reply) => {
      let ready = false;
      try {
        ready = await app.isReady();
      } catch (err) {
        request.log.warn({ err }, 'readiness check failed');
      }
      if (!ready) {
        return reply.code(503).send({ error: { code: 'not_ready', message: 'not ready' } });
      }
      return { status: 'ready' };
    },
  );
};

export default healthRoutes;
