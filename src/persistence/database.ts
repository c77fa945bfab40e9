import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { createOrmConfig } from '../../mikro-orm.config.js';
import { acquireDaemonLock } from './daemon-lock.js';

export interface OpenDatabaseOptions {
  /** A PostgreSQL server. Unset: an embedded PGlite with its data in `dataDir/pg`. */
  databaseUrl?: string;
  dataDir: string;
  logger: Logger;
  /** PostgreSQL schema to use instead of `public` (server only). */
  schema?: string;
  /** Apply pending migrations before returning. Default true. */
  migrate?: boolean;
}

export interface Database {
  orm: MikroORM;
  /** True when this process runs the embedded PGlite. */
  embedded: boolean;
  /** Closes the ORM, then (embedded) the socket server and PGlite, then releases the DATA_DIR lock. */
  close(): Promise<void>;
}

/**
 * Connects the ORM and applies pending migrations. Without a URL it starts PGlite under
 * `dataDir/pg`, serves it on 127.0.0.1 (a free port) through pglite-socket so the ordinary
 * PostgreSQL driver talks to it, and holds `dataDir/daemon.lock` while open.
 * @throws DataDirLockedError when another live process has the same DATA_DIR open (embedded).
 */
export async function openDatabase({
  databaseUrl,
  dataDir,
  logger,
  schema,
  migrate = true,
}: OpenDatabaseOptions): Promise<Database> {
  if (schema !== undefined && !/^[a-z_][a-z0-9_]*$/.test(schema)) {
    throw new Error('schema must be a lower-case SQL identifier');
  }
  const log = logger.child({ component: 'database' });
  const cleanups: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup().catch((err) => log.error({ err }, 'error while closing the database'));
    }
  };

  try {
    let clientUrl = databaseUrl;
    if (!clientUrl) {
      const lock = await acquireDaemonLock(dataDir, log);
      cleanups.push(() => lock.release());
      const pgDir = join(dataDir, 'pg');
      const started = Date.now();
      const pglite = await PGlite.create({ dataDir: pgDir });
      cleanups.push(() => pglite.close());
      // One connection: PGlite runs a single backend, and its queue does not isolate transactions.
      const server = new PGLiteSocketServer({ db: pglite, host: '127.0.0.1', port: 0, maxConnections: 1 });
      await server.start();
      cleanups.push(() => server.stop());
      clientUrl = `postgres://postgres@${server.getServerConn()}/postgres`;
      log.info({ dataDir: pgDir, ms: Date.now() - started }, 'embedded PostgreSQL (PGlite) started');
    }

    const orm = await MikroORM.init(
      createOrmConfig({ clientUrl, poolMax: databaseUrl ? 10 : 1, schema, logger: log }),
    );
    cleanups.push(() => orm.close(true));

    if (schema) await orm.em.fork().execute(`create schema if not exists "${schema}"`);
    if (migrate) {
      const applied = await orm.migrator.up();
      if (applied.length > 0) log.info({ migrations: applied.map((m) => m.name) }, 'migrations applied');
    }
    return { orm, embedded: !databaseUrl, close };
  } catch (err) {
    await close();
    throw err;
  }
}
