import { buildApp } from './app.js';
import { createBackupService } from './backup/backup-service.js';
import { ConfigError, loadConfig } from './config.js';
import { startDaemon } from './daemon.js';
import { resolveJwtKey } from './http/jwt-key.js';
import { daemonObservability } from './http/plugins/observability.js';
import { daemonReady } from './http/readiness.js';
import { createLogger } from './logger.js';
import { DataDirLockedError } from './persistence/daemon-lock.js';
import { EncryptionKeyError } from './persistence/secret-box.js';
import { createSessionService } from './sessions/session-service.js';
import { createProxyChecker } from './whatsapp/proxy.js';

const SHUTDOWN_DEADLINE_MS = 10_000;
const HTTP_CLOSE_MS = 2_000;
const FLUSH_MS = 5_000;

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`wa-supervisor: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger({ level: config.log.level, pretty: config.log.pretty });

  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  try {
    daemon = await startDaemon({ config, logger });
  } catch (err) {
    // Problems an operator fixes get one plain line; anything else the full error.
    if (err instanceof DataDirLockedError || err instanceof EncryptionKeyError) {
      process.stderr.write(`wa-supervisor: ${err.message}\n`);
    } else {
      logger.fatal({ err }, 'could not start');
    }
    process.exitCode = 1;
    return;
  }
  let server: Awaited<ReturnType<typeof buildApp>>;
  try {
    server = await buildApp({
      logger,
      jwtKey: await resolveJwtKey(config, logger),
      sessionService: createSessionService({
        sessions: daemon.sessions,
        supervisor: daemon.supervisor,
        authStore: daemon.authStore,
        sockets: daemon.sockets,
        logger,
        maxAttempts: config.reconnect.delaysMs.length,
      }),
      backupService: createBackupService({ orm: daemon.db.orm, keyring: daemon.keyring }),
      proxyChecker: createProxyChecker({ waWebSocketUrl: config.waWebSocketUrl }),
      isReady: () => daemonReady(daemon),
      observability: daemonObservability(daemon, {
        metricsToken: config.metrics.token,
        maxAttempts: config.reconnect.delaysMs.length,
      }),
    });
    await server.listen({ host: config.host, port: config.port });
  } catch (err) {
    logger.fatal({ err }, 'could not start the HTTP server');
    await daemon.close();
    process.exitCode = 1;
    return;
  }
  logger.info({ embedded_db: daemon.db.embedded }, 'wa-supervisor running');

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.error('shutdown took longer than 10 s: exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    // Stop taking requests first, then the sessions and the database. Long-lived requests (an
    // event stream) get HTTP_CLOSE_MS before their connections are cut; the transition queue
    // gets FLUSH_MS, so a database that is down cannot push the exit past the deadline.
    const closeHttp = server
      .close()
      .catch((err: unknown) => logger.error({ err }, 'error while closing the HTTP server'));
    let httpTimer: NodeJS.Timeout | undefined;
    Promise.race([
      closeHttp,
      new Promise<void>((resolve) => {
        httpTimer = setTimeout(() => {
          logger.warn('HTTP connections still open: closing them');
          server.server.closeAllConnections();
          resolve();
        }, HTTP_CLOSE_MS);
      }),
    ])
      .then(() => {
        clearTimeout(httpTimer);
        return daemon.close({ flushTimeoutMs: FLUSH_MS });
      })
      .then(
        () => {
          logger.info('stopped');
          process.exit(0);
        },
        (err: unknown) => {
          logger.error({ err }, 'error while shutting down');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

void main();
