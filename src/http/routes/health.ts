import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ErrorSchema } from '../schemas/common.js';

const Status = Type.Object({ status: Type.String() });

/** Liveness and readiness, outside the API base and without authentication. */
const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/healthz',
    { schema: { tags: ['operations'], summary: 'The process is alive', response: { 200: Status } } },
    async () => ({ status: 'ok' }),
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
