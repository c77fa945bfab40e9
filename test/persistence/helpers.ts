import { randomBytes } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { pino } from 'pino';
import { type Database, openDatabase } from '../../src/persistence/database.js';
import { createKeyring, type Keyring } from '../../src/persistence/secret-box.js';
import { createSessionRepository, type SessionRepository } from '../../src/persistence/session-repository.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

export const silentLogger = pino({ level: 'silent' });

export interface PersistenceFixture {
  testDb: TestDatabase;
  db: Database;
  orm: MikroORM;
  key: Buffer;
  keyring: Keyring;
  repo: SessionRepository;
  /** Raw SQL on a fresh fork (one connection in the embedded fallback, so through the ORM's pool). */
  sql<T = Record<string, unknown>>(query: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/** A migrated database of its own for one test file, a random key and a session repository. */
export async function openFixture(label: string): Promise<PersistenceFixture> {
  const testDb = await createTestDatabase(label);
  const db = await openDatabase({ databaseUrl: testDb.url, dataDir: '/nonexistent', logger: silentLogger });
  const key = randomBytes(32);
  const keyring = createKeyring(key);
  return {
    testDb,
    db,
    orm: db.orm,
    key,
    keyring,
    repo: createSessionRepository({ orm: db.orm, keyring }),
    sql: (query, params = []) => db.orm.em.fork().execute(query, params),
    async close() {
      await db.close();
      await testDb.drop();
    },
  };
}
