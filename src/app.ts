import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv, type Options as AjvOptions } from 'ajv';
import ajvFormats from 'ajv-formats';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import type { Logger } from 'pino';
import type { BackupService } from './backup/backup-service.js';
import { installErrorHandling } from './http/errors.js';
import type { JwtKey } from './http/jwt-key.js';
import auth from './http/plugins/auth.js';
import observability, { type ObservabilityOptions } from './http/plugins/observability.js';
import rateLimit, { type RateLimitOptions } from './http/plugins/rate-limit.js';
import services from './http/plugins/services.js';
import swagger from './http/plugins/swagger.js';
import { requestLogSerializer } from './http/request-log.js';
import backupRoutes from './http/routes/backup.js';
import eventRoutes from './http/routes/events.js';
import healthRoutes from './http/routes/health.js';
import metricsRoutes from './http/routes/metrics.js';
import proxyRoutes from './http/routes/proxy.js';
import sessionRoutes from './http/routes/sessions.js';
import uiRoutes from './http/routes/ui.js';
import type { SessionService } from './sessions/session-service.js';
import type { ProxyChecker } from './whatsapp/proxy.js';

export const API_PREFIX = '/api/v1/whatsapp';
export const BODY_LIMIT = 256 * 1024;

export interface AppOptions {
  sessionService: SessionService;
  /** Export and import of backup files (src/backup). */
  backupService: BackupService;
  jwtKey: JwtKey;
  /** True when the database answers and the supervisor runs. */
  isReady(): Promise<boolean>;
  rateLimit?: RateLimitOptions;
  /** GET /metrics, the SSE stream and /healthz counts (`daemonObservability(daemon, ...)`). */
  observability?: ObservabilityOptions;
  /** POST /sessions/{id}/proxy/check/: a tunnel to the `WA_WS_URL` host (`createProxyChecker`). */
  proxyChecker: ProxyChecker;
}

/**
 * Route plugins under the API base, all behind authentication. Backup export and import are
 * routes/backup.ts, over `backupService`.
 */
const apiRoutes: FastifyPluginAsync[] = [sessionRoutes, backupRoutes, proxyRoutes];

/** The whole HTTP API as one plugin: services, auth, rate limits, OpenAPI and routes. Never listens. */
export const app: FastifyPluginAsync<AppOptions> = async (fastify, opts) => {
  installErrorHandling(fastify);
  await fastify.register(services, { sessionService: opts.sessionService, isReady: opts.isReady });
  await fastify.register(auth, { key: opts.jwtKey });
  await fastify.register(rateLimit, opts.rateLimit ?? {});
  await fastify.register(swagger);
  if (opts.observability) await fastify.register(observability, opts.observability);
  await fastify.register(healthRoutes);
  if (opts.observability) await fastify.register(metricsRoutes);
  await fastify.register(uiRoutes);
  await fastify.register(
    async (api) => {
      api.addHook('onRequest', api.authenticate);
      api.decorate('backupService', opts.backupService);
      api.decorate('proxyChecker', opts.proxyChecker);
      for (const routes of apiRoutes) await api.register(routes);
      if (opts.observability) await api.register(eventRoutes);
    },
    // The SSE stream takes `?access_token=`: request logs mask it.
    // (Fastify's type wants serializers that return strings; pino takes objects.)
    { prefix: API_PREFIX, logSerializers: { req: requestLogSerializer as never } },
  );
};

const addFormats = ajvFormats as unknown as (ajv: Ajv) => Ajv;

function validator(options: AjvOptions): Ajv {
  // Unknown fields are refused, never stripped; every offending field is reported.
  return addFormats(
    new Ajv({ allErrors: true, removeAdditional: false, useDefaults: true, strict: false, ...options }),
  );
}

/**
 * A Fastify instance with the API registered, ready for `inject` or `listen`. Pass the daemon's
 * root pino logger; the request log redacts `authorization` through its redact paths.
 */
export async function buildApp(opts: AppOptions & { logger: Logger }): Promise<FastifyInstance> {
  const { logger, ...appOptions } = opts;
  const fastify = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT,
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: false, maxParamLength: 200 },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Bodies are taken as sent ("true" is not a boolean); params and query strings are text, so they are coerced.
  const bodies = validator({ coerceTypes: false });
  const strings = validator({ coerceTypes: 'array' });
  fastify.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? bodies : strings).compile(schema),
  );

  // An empty body on a POST without one (start, stop, ...) is no body rather than a JSON error.
  const json = fastify.getDefaultJsonParser('error', 'error');
  // JSON only: any other body is 415.
  fastify.removeContentTypeParser(['application/json', 'text/plain']);
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '' || (typeof body === 'string' && body.trim() === '')) return done(null, undefined);
    json(request, body as string, done);
  });

  await fastify.register(app, appOptions);
  return fastify;
}
