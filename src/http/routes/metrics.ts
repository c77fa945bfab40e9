import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ApiError } from '../errors.js';
import { ErrorSchema } from '../schemas/common.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** `GET /metrics`: the Prometheus text, outside the API base; behind METRICS_TOKEN when it is set. */
const metricsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { metrics, metricsToken } = app.observability;
  const expected = metricsToken ? digest(`Bearer ${metricsToken}`) : undefined;

  app.get(
    '/metrics',
    {
      // A scrape every few seconds is not worth a log line.
      logLevel: 'warn',
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics',
        description:
          'Prometheus text exposition (wa_sessions, wa_session_transitions_total, wa_disconnects_total, ' +
          'wa_reconnect_attempts_total, wa_connect_duration_seconds, wa_connect_gate_in_flight, ' +
          'wa_session_connected_seconds with METRICS_PER_SESSION=1, process metrics). When METRICS_TOKEN ' +
          'is set, send `Authorization: Bearer <METRICS_TOKEN>`.',
        ...(expected ? { security: [{ bearerAuth: [] }] } : {}),
        response: {
          200: {
            description: 'Prometheus text format 0.0.4',
            content: { 'text/plain': { schema: Type.String() } },
          },
          401: ErrorSchema,
        },
      },
    },
    async (request, reply) => {
      if (expected) {
        const given = digest(request.headers.authorization ?? '');
        if (!timingSafeEqual(given, expected)) {
          reply.header('www-authenticate', 'Bearer realm="metrics"');
          throw new ApiError(401, 'unauthorized', 'metrics token required');
        }
      }
      return reply.type(metrics.contentType).send(await metrics.render());
    },
  );
};

export default metricsRoutes;
