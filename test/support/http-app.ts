import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { buildApp } from '../../src/app.js';
import { createBackupService } from '../../src/backup/backup-service.js';
import { loadConfig } from '../../src/config.js';
import { type Daemon, startDaemon } from '../../src/daemon.js';
import { daemonObservability } from '../../src/http/plugins/observability.js';
import { daemonReady } from '../../src/http/readiness.js';
import { signToken } from '../../src/http/token.js';
import { createSessionService } from '../../src/sessions/session-service.js';
import { createProxyChecker } from '../../src/whatsapp/proxy.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';
import { startWaSim, type WaSim, type WaSimOptions } from './wa-sim/index.js';

export const JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256';

export interface ApiHarness {
  app: FastifyInstance;
  daemon: Daemon;
  sim: WaSim;
  /** Bearer header value for a user. */
  auth(user: number, opts?: { admin?: boolean }): { authorization: string };
  close(): Promise<void>;
}

/**
 * The daemon (PostgreSQL at TEST_DATABASE_URL, else its embedded PGlite) against a simulator, and
 * the HTTP app over it, not listening. Short reconnect delays, no jitter.
 */
export async function startApiHarness(
  label: string,
  opts: {
    rateLimitMax?: number;
    sim?: WaSimOptions;
    delays?: string;
    logger?: Logger;
    /** METRICS_TOKEN */
    metricsToken?: string;
    /** SSE heartbeat interval. */
    heartbeatMs?: number;
    /** The URL the daemon connects to, given the test database's (e.g. through a relay); forces one. */
    viaDatabaseUrl?: (url: string) => Promise<string>;
  } = {},
): Promise<ApiHarness> {
  const logger = opts.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const serverUrl = process.env.TEST_DATABASE_URL?.trim();
  const database: TestDatabase | undefined =
    serverUrl || opts.viaDatabaseUrl ? await createTestDatabase(label) : undefined;
  const databaseUrl =
    database && opts.viaDatabaseUrl ? await opts.viaDatabaseUrl(database.url) : database?.url;
  const sim = await startWaSim(opts.sim);
  const dataDir = await mkdtemp(join(tmpdir(), 'wa-http-'));
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir,
    WA_WS_URL: sim.url,
    WA_NOISE_ROOT_PUBLIC_KEY: sim.rootPublicKeyHex,
    RECONNECT_DELAYS: opts.delays ?? '0,0.2,0.2,0.2',
    RECONNECT_JITTER: '0',
    JWT_SECRET,
  });
  const daemon = await startDaemon({
    config,
    logger,
    env: { SESSION_ENCRYPTION_KEY: randomBytes(32).toString('base64'), NODE_ENV: 'test' },
    socketConfig: { connectTimeoutMs: 5_000, defaultQueryTimeoutMs: 5_000 },
  });
  const app = await buildApp({
    logger,
    jwtKey: { algorithm: 'HS256', secret: JWT_SECRET },
    sessionService: createSessionService({
      sessions: daemon.sessions,
      supervisor: daemon.supervisor,
      authStore: daemon.authStore,
      sockets: daemon.sockets,
      logger,
      maxAttempts: config.reconnect.delaysMs.length,
      socketTimeoutMs: 3_000,
    }),
    backupService: createBackupService({ orm: daemon.db.orm, keyring: daemon.keyring }),
    proxyChecker: createProxyChecker({ waWebSocketUrl: sim.url, timeoutMs: 2_000 }),
    isReady: () => daemonReady(daemon),
    observability: daemonObservability(daemon, {
      metricsToken: opts.metricsToken,
      heartbeatMs: opts.heartbeatMs,
      maxAttempts: config.reconnect.delaysMs.length,
    }),
    rateLimit: { max: opts.rateLimitMax ?? 1000, timeWindowMs: 60_000 },
  });
  await app.ready();
  return {
    app,
    daemon,
    sim,
    auth: (user, { admin = false } = {}) => ({
      authorization: `Bearer ${signToken(JWT_SECRET, { user, admin })}`,
    }),
    async close() {
      await app.close();
      await daemon.close();
      await sim.close();
      await database?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
