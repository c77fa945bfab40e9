import type { FastifyRequest } from 'fastify';

/** `?access_token=...` (the SSE stream's query token) masked in a URL. */
export function maskAccessToken(url: string): string {
  return url.replace(/([?&]access_token=)[^&#]*/gi, '$1[Redacted]');
}

/** Fastify's default `req` log serializer, with the query token masked. */
export function requestLogSerializer(req: FastifyRequest) {
  return {
    method: req.method,
    url: maskAccessToken(req.url),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}
