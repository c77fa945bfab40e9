import { resolve } from 'node:path';
import { createLogger } from '../logger.js';
import { openDatabase } from '../persistence/database.js';

// npm run db:migrate: applies pending migrations to DATABASE_URL, or to the embedded database under DATA_DIR.
const env = process.env;
const logger = createLogger({ level: 'info' });

try {
  const db = await openDatabase({
    databaseUrl: env.DATABASE_URL?.trim() || undefined,
    dataDir: resolve(env.DATA_DIR?.trim() || './data'),
    logger,
  });
  const executed = await db.orm.migrator.getExecutedMigrations();
  logger.info({ latest: executed.at(-1)?.name ?? null }, 'database schema is up to date');
  await db.close();
} catch (err) {
  logger.fatal({ err }, 'migration failed');
  process.exitCode = 1;
}
