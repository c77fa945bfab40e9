import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../../src/persistence/database.js';
import { migrationsList } from '../../src/persistence/migrations/index.js';
import { createKeyring } from '../../src/persistence/secret-box.js';
import { createSessionRepository } from '../../src/persistence/session-repository.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const logger = pino({ level: 'silent' });

describe('migrations', () => {
  let testDb: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    testDb = await createTestDatabase(import.meta.url);
    db = await openDatabase({ databaseUrl: testDb.url, dataDir: '/nonexistent', logger });
  });

  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
  });

  it('creates every table on an empty database', async () => {
    const rows: { table_name: string }[] = await db.orm.em
      .fork()
      .getConnection()
      .execute(`select table_name from information_schema.tables where table_schema = 'public' order by 1`);
    expect(rows.map((r) => r.table_name)).toEqual([
      'mikro_orm_migrations',
      'whatsapp_auth_creds',
      'whatsapp_auth_key',
      'whatsapp_session',
      'whatsapp_session_event',
    ]);
    const executed = await db.orm.migrator.getExecutedMigrations();
    expect(executed.map((m) => m.name)).toEqual(migrationsList.map((m) => m.name));
  });

  it('changes nothing on a second run', async () => {
    expect(await db.orm.migrator.up()).toEqual([]);
    // Reopened rather than opened twice: the embedded fallback serves one connection.
    await db.close();
    db = await openDatabase({ databaseUrl: testDb.url, dataDir: '/nonexistent', logger });
    expect(await db.orm.migrator.getPendingMigrations()).toEqual([]);
    expect(await db.orm.migrator.up()).toEqual([]);
  });

  it('leaves no difference between the migrated database and the entities', async () => {
    const sql = await db.orm.schema.getUpdateSchemaSQL({ wrap: false });
    expect(sql.trim()).toBe('');
  });

  it('has a migration for every entity change (migration:check)', async () => {
    expect(await db.orm.migrator.checkMigrationNeeded()).toBe(false);
  });

  it('lists every migration file', async () => {
    const dir = fileURLToPath(new URL('../../src/persistence/migrations/', import.meta.url));
    const files = (await readdir(dir)).filter((f) => /^Migration\d+\.ts$/.test(f)).map((f) => f.slice(0, -3));
    expect(migrationsList.map((m) => m.name)).toEqual(files.sort());
  });
});

describe('openDatabase with a schema', () => {
  it('migrates into that schema and works there', async () => {
    const testDb = await createTestDatabase(`${import.meta.url}-schema`);
    try {
      const db = await openDatabase({
        databaseUrl: testDb.url,
        dataDir: '/nonexistent',
        logger,
        schema: 'wa_one',
      });
      try {
        const rows: { table_schema: string; table_name: string }[] = await db.orm.em.fork().execute(
          `select table_schema, table_name from information_schema.tables
             where table_schema not in ('pg_catalog', 'information_schema') order by 1, 2`,
        );
        expect(rows.map((r) => `${r.table_schema}.${r.table_name}`)).toEqual([
          'wa_one.mikro_orm_migrations',
          'wa_one.whatsapp_auth_creds',
          'wa_one.whatsapp_auth_key',
          'wa_one.whatsapp_session',
          'wa_one.whatsapp_session_event',
        ]);
        const repo = createSessionRepository({ orm: db.orm, keyring: createKeyring(Buffer.alloc(32, 1)) });
        const s = await repo.create({ usuarioId: 1, deviceName: 'in schema' });
        expect((await repo.get(s.id))?.deviceName).toBe('in schema');
        expect((await db.orm.schema.getUpdateSchemaSQL({ wrap: false })).trim()).toBe('');
      } finally {
        await db.close();
      }
    } finally {
      await testDb.drop();
    }
  });
});
