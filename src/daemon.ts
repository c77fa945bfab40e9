import type { Logger } from 'pino';
import type { ReconnectPolicy } from '../machines/reconnect-policy.js';
import { retryDelayMs } from '../machines/reconnect-policy.js';
import type { LastError } from '../machines/session.machine.js';
import type { SessionTransition } from '../machines/transition.js';
import type { Config } from './config.js';
import { type Inspection, startInspection } from './inspector.js';
import { createMetrics, type Metrics } from './metrics.js';
import { type Database, openDatabase } from './persistence/database.js';
import { createPgAuthStore } from './persistence/pg-auth-store.js';
import { type Keyring, loadKeyring } from './persistence/secret-box.js';
import {
  createSessionRepository,
  type LastErrorRecord,
  type SessionRecord,
  type SessionRepository,
  type TransitionRecord,
} from './persistence/session-repository.js';
import { createTransitionWriter, type TransitionWriter } from './persistence/transition-writer.js';
import { createSessionEventFeed, type SessionEventFeed } from './session-events.js';
import { type Supervisor, startSupervisor } from './supervisor.js';
import type { AuthStateStore } from './whatsapp/auth-store.js';
import { hardenBaileys } from './whatsapp/baileys-hardening.js';
import { createConnectionLogic } from './whatsapp/connection.js';
import { createSocketRegistry, type SocketRegistry } from './whatsapp/socket-registry.js';

export interface DaemonOptions {
  config: Config;
  logger: Logger;
  /** Environment for the keyring (SESSION_ENCRYPTION_KEY[_PREVIOUS], NODE_ENV). Default process.env. */
  env?: Record<string, string | undefined>;
  /** Extra Baileys options (tests: short timeouts). */
  socketConfig?: Parameters<typeof createConnectionLogic>[0]['socketConfig'];
  /** PostgreSQL schema instead of `public` (tests). */
  schema?: string;
}

export interface Daemon {
  db: Database;
  keyring: Keyring;
  sessions: SessionRepository;
  authStore: AuthStateStore;
  supervisor: Supervisor;
  transitions: TransitionWriter;
  /** Live Baileys sockets, for logout and pairing codes. */
  sockets: SocketRegistry;
  metrics: Metrics;
  /** Written transitions, live (the SSE stream). */
  events: SessionEventFeed;
  /**
   * Stops every session (sockets closed, never logged out), flushes the transition log (for at most
   * `flushTimeoutMs`, then logs what is left unwritten), closes the DB.
   */
  close(options?: CloseOptions): Promise<void>;
}

export interface CloseOptions {
  /** Default 5 s: with the database down the queue cannot drain, and shutdown must end. */
  flushTimeoutMs?: number;
}

const DEFAULT_FLUSH_TIMEOUT_MS = 5_000;

/**
 * Everything the daemon runs, without the HTTP layer: database and migrations, the encrypted auth
 * store, the supervisor with the Baileys connector, the transition log, and restore on boot.
 */
export async function startDaemon({
  config,
  logger,
  env,
  socketConfig,
  schema,
}: DaemonOptions): Promise<Daemon> {
  // Before any socket exists: real signature checks, and the simulator's root when configured.
  hardenBaileys({ noiseRootPublicKeyHex: config.waNoiseRootPublicKeyHex, logger });

  const keyring = await loadKeyring({ env, dataDir: config.dataDir, logger });
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger, schema });
  try {
    const sessions = createSessionRepository({ orm: db.orm, keyring });
    const authStore = createPgAuthStore({ orm: db.orm, keyring, logger });
    const events = createSessionEventFeed({
      sessions,
      view: (sessionId) => supervisor.view(sessionId),
      logger,
    });
    // Published once the row exists, so each streamed event has its id (Last-Event-ID replays from the table).
    const transitions = createTransitionWriter({
      record: async (t) => events.publish(t, await sessions.recordTransition(t)),
      logger,
    });
    const sockets = createSocketRegistry();
    const policy = config.reconnect;
    let metrics: Metrics | undefined;
    // Only when asked: the inspector keeps a reconnect timer even after stop().
    const inspection: Inspection | undefined = config.inspect
      ? await startInspection(config.inspect, logger)
      : undefined;
    const supervisor = startSupervisor({
      logger,
      connection: createConnectionLogic({
        authStore,
        logger,
        waWebSocketUrl: config.waWebSocketUrl,
        socketConfig,
        sockets,
        // Read at every connect: a PATCHed proxy applies to the next socket (session.configure reconnects).
        resolveProxy: async (sessionId) => {
          const row = await sessions.get(Number(sessionId));
          return row?.proxyEnabled && row.proxyUrl ? row.proxyUrl : null;
        },
      }),
      policy,
      maxConcurrentConnects: config.maxConcurrentConnects,
      onTransition: (t) => {
        transitions.enqueue(toTransitionRecord(t));
        metrics?.observe(t);
      },
      inspect: inspection?.inspect,
    });
    metrics = createMetrics(supervisor, { perSession: config.metrics.perSession });

    const restored = await restoreSessions(sessions, supervisor, policy);
    logger.info(restored, 'sessions restored');

    let closing: Promise<void> | undefined;
    const close = ({ flushTimeoutMs = DEFAULT_FLUSH_TIMEOUT_MS }: CloseOptions = {}) => {
      closing ??= (async () => {
        supervisor.shutdown();
        inspection?.stop();
        // flush() never resolves while the database is down; shutdown has a deadline to keep.
        let timer: NodeJS.Timeout | undefined;
        const flushed = await Promise.race([
          transitions.flush().then(() => true),
          new Promise<false>((resolve) => {
            timer = setTimeout(() => resolve(false), flushTimeoutMs);
          }),
        ]);
        clearTimeout(timer);
        if (!flushed) {
          logger.error(
            { unwritten: transitions.pending, flushTimeoutMs },
            'database unavailable: transitions left unwritten at shutdown',
          );
        }
        await db.close();
      })();
      return closing;
    };
    return { db, keyring, sessions, authStore, supervisor, transitions, sockets, metrics, events, close };
  } catch (err) {
    await db.close();
    throw err;
  }
}

const RESTORE_BATCH = 50;

/**
 * Spawns every session whose desired state is `running`: a session that was in backoff resumes its
 * schedule where it was, a failed one stays failed, any other starts connecting through the gate.
 */
export async function restoreSessions(
  sessions: SessionRepository,
  supervisor: Supervisor,
  policy: ReconnectPolicy,
  now = Date.now(),
): Promise<{ started: number; resumed: number; failed: number }> {
  const counts = { started: 0, resumed: 0, failed: 0 };
  const rows = await sessions.listToRestore();
  for (const [i, row] of rows.entries()) {
    // Spawning a fleet in one synchronous burst stalls the loop long enough for handshakes to time out.
    if (i > 0 && i % RESTORE_BATCH === 0) await new Promise((resolve) => setImmediate(resolve));
    const id = String(row.id);
    supervisor.add(id, { autoReconnect: row.autoReconnect });
    const lastError = row.lastError ? toLastError(row.lastError) : null;
    if (row.status === 'failed') {
      const [last] = (await sessions.listEvents(row.id, { pageSize: 1 })).items;
      const failureReason =
        last?.to === 'failed' && last.reason ? last.reason : (lastError?.reason ?? 'unknown');
      supervisor.command(id, { type: 'session.restore', status: 'failed', failureReason, lastError });
      counts.failed++;
    } else if (row.status === 'backoff' && row.reconnectAttempts > 0) {
      supervisor.command(id, {
        type: 'session.restore',
        status: 'backoff',
        attempt: row.reconnectAttempts,
        retryInMs: remainingDelay(row, policy, now),
        lastError,
      });
      counts.resumed++;
    } else {
      supervisor.start(id);
      counts.started++;
    }
  }
  return counts;
}

/** What is left of a stored backoff: its base delay counted from when it was scheduled. */
function remainingDelay(row: SessionRecord, policy: ReconnectPolicy, now: number): number {
  const scheduledAt = row.lastReconnectAt?.getTime() ?? now;
  const delay = retryDelayMs({ ...policy, jitter: 0 }, row.reconnectAttempts, Math.random);
  return Math.max(0, scheduledAt + delay - now);
}

function toLastError(e: LastErrorRecord): LastError {
  return { code: e.code, reason: e.reason, message: e.message, at: e.at.getTime() };
}

/** A transition as the events table and the session row store it. */
export function toTransitionRecord(t: SessionTransition): TransitionRecord {
  const at = new Date(t.at);
  const opened = t.to === 'connected' && t.from !== 'connected';
  const dropped = t.from === 'connected' && t.to !== 'connected';
  return {
    sessionId: Number(t.sessionId),
    at,
    from: t.from,
    to: t.to,
    event: t.event,
    attempt: t.attempt,
    delayMs: t.delayMs,
    // On the way to failed, the reason it gave up (retries_exhausted, logged_out, ...).
    reason: t.to === 'failed' ? t.failureReason : t.reason,
    code: t.code,
    taskId: t.taskId,
    status: t.to,
    lastReconnectAt: t.to === 'backoff' ? at : undefined,
    connectedAt: opened ? at : undefined,
    disconnectedAt: dropped ? at : undefined,
    lastError: t.lastError ? { ...t.lastError, at: new Date(t.lastError.at) } : null,
  };
}
