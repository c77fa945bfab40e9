import rateLimit from '@fastify/rate-limit';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError } from '../errors.js';

export interface RateLimitOptions {
  /** Requests per window for one session's action routes. Default 10. */
  max?: number;
  /** Default 60 s. */
  timeWindowMs?: number;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Route `config.rateLimit` for the per-session action routes (start, stop, reconnect, pairing-code). */
    perSessionRateLimit: {
      max: number;
      timeWindow: number;
      hook: 'preHandler';
      keyGenerator(request: FastifyRequest): string;
    };
  }
}

/** @fastify/rate-limit with no global limit; routes opt in with `config: { rateLimit: app.perSessionRateLimit }`. */
export default fp(
  async (app, opts: RateLimitOptions) => {
    await app.register(rateLimit, {
      global: false,
      errorResponseBuilder: (_request, context) =>
        new ApiError(429, 'rate_limited', `too many requests for this session; retry in ${context.after}`),
    });
    app.decorate('perSessionRateLimit', {
      max: opts.max ?? 10,
      timeWindow: opts.timeWindowMs ?? 60_000,
      // After validation and authentication, so the key is the caller and a valid session id.
      hook: 'preHandler',
      keyGenerator: (request: FastifyRequest) =>
        `${request.caller?.usuarioId}:${(request.params as { id?: number }).id}`,
    });
  },
  { name: 'rate-limit' },
);
