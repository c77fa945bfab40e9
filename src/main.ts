import { buildApp } from './app.js';
import { createBackupService } from './backup/backup-service.js';
import { ConfigError, loadConfig } from './config.js';
import { startDaemon } from './daemon.js';
import { resolveJwtKey } from './http/jwt-key.js';
import { daemonReady } from './http/readiness.js';
import { createLogger } from './logger.js';
import { DataDirLockedError } from './persistence/daemon-lock.js';
import { EncryptionKeyError } from './persistence/secret-box.js';
import { createSessionService } from './sessions/session-service.js';
import { createProxyChecker } from './whatsapp/proxy.js';

const SHUTDOWN_DEADLINE_MS = 10_000;

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
    // Stop taking requests first, then the sessions and the database.
    server
      .close()
      .catch((err: unknown) => logger.error({ err }, 'error while closing the HTTP server'))
      .then(() => daemon.close())
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
