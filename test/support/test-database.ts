import { basename } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import pg from 'pg';

export interface TestDatabase {
  /** Connection URL of a fresh, empty database. */
  url: string;
  /** True when it is an in-memory PGlite (TEST_DATABASE_URL unset). */
  embedded: boolean;
  /** Drops it (or stops the PGlite). */
  drop(): Promise<void>;
}

/**
 * A fresh database for one test file: `CREATE DATABASE` on the TEST_DATABASE_URL server, named
 * from `label` and the pid; without TEST_DATABASE_URL, an in-memory PGlite served on 127.0.0.1
 * (one connection, like the daemon's embedded mode).
 * @param label usually `import.meta.url` or the file name.
 */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const serverUrl = process.env.TEST_DATABASE_URL?.trim();
  if (!serverUrl) return startPglite();

  const name = `wa_test_${basename(label)
    .replace(/\.test\.ts$/, '')
    .replace(/[^a-z0-9]+/gi, '_')
    .toLowerCase()
    .slice(0, 40)}_${process.pid}`;
  await withAdmin(serverUrl, async (client) => {
    await client.query(`drop database if exists "${name}" with (force)`);
    await client.query(`create database "${name}"`);
  });
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    embedded: false,
    async drop() {
      await withAdmin(serverUrl, (client) => client.query(`drop database if exists "${name}" with (force)`));
    },
  };
}

async function withAdmin<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function startPglite(): Promise<TestDatabase> {
  const db = await PGlite.create();
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 1 });
  await server.start();
  return {
    url: `postgres://postgres@${server.getServerConn()}/postgres`,
    embedded: true,
    async drop() {
      await server.stop();
      await db.close();
    },
  };
}
