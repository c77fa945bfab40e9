import { Migrator } from '@mikro-orm/migrations';
import { defineConfig, type Options } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { entities } from './src/persistence/entities/index.js';
import { migrationsList } from './src/persistence/migrations/index.js';

export interface OrmConfigOptions {
  clientUrl: string;
  /** Pool size; 1 for the embedded PGlite, which serves one connection. */
  poolMax?: number;
  /** PostgreSQL schema (search_path) to use instead of `public`. */
  schema?: string;
  /** MikroORM's own messages (warnings, and queries when `debug`) go here at debug level. */
  logger?: Logger;
  debug?: boolean;
  /**
   * Keep the schema snapshot beside the migrations up to date. Only the CLI wants it: when the
   * daemon or a test applies migrations, MikroORM would otherwise rewrite the committed snapshot
   * with that database's schema name.
   */
  snapshot?: boolean;
}

/** The one ORM configuration, shared by the daemon, the CLI scripts and the tests. */
export function createOrmConfig({
  clientUrl,
  poolMax = 10,
  schema,
  logger,
  debug = false,
  snapshot = false,
}: OrmConfigOptions): Options {
  return defineConfig({
    clientUrl,
    entities,
    extensions: [Migrator],
    ...(schema ? { schema } : {}),
    pool: {
      min: 0,
      max: poolMax,
      // A statement rather than a startup option: the embedded PGlite ignores startup options.
      ...(schema ? { afterCreate: setSearchPath(schema) } : {}),
    },
    driverOptions: { connection: { application_name: 'wa-supervisor' } },
    // Databases are created by whoever provisions them (or by the test helper), never implicitly.
    ensureDatabase: false,
    forceUtcTimezone: true,
    allowGlobalContext: false,
    debug,
    ...(logger ? { logger: (message: string) => logger.debug({ component: 'mikro-orm' }, message) } : {}),
    migrations: {
      tableName: 'mikro_orm_migrations',
      path: './src/persistence/migrations',
      pathTs: './src/persistence/migrations',
      emit: 'ts',
      // One snapshot for every database name, so `migration:check` compares entities with it.
      snapshotName: '.snapshot-wa-supervisor',
      snapshot,
      migrationsList,
      transactional: true,
      allOrNothing: true,
      // The default (`session_replication_role = replica`) needs a superuser, which managed servers deny.
      disableForeignKeys: false,
    },
  });
}

type PgConnection = { query(sql: string, done: (err: Error | null) => void): void };

function setSearchPath(schema: string) {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error('schema must be a lower-case SQL identifier');
  return (conn: PgConnection, done: (err: Error | null, conn: PgConnection) => void) =>
    conn.query(`set search_path to "${schema}"`, (err) => done(err, conn));
}

// Used by `mikro-orm` CLI commands (see package.json "mikro-orm" and src/persistence/README.md).
export default createOrmConfig({
  clientUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/wa_supervisor',
  snapshot: true,
});
