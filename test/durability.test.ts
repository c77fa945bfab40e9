import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/persistence/database.js';
import { loadKeyring } from '../src/persistence/secret-box.js';
import { createSessionRepository } from '../src/persistence/session-repository.js';
import { type SeededSession, seedPairedSessions, spawnDaemon } from './support/daemon-process.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
import { spawnWaSimProcess, type WaSimProcess } from './support/wa-sim/index.js';

// Process-level durability: a real PostgreSQL server, the simulator and the daemon each in their own process.
const serverUrl = process.env.TEST_DATABASE_URL?.trim();
let database: TestDatabase;
let sim: WaSimProcess;
let dataDir: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  if (!serverUrl) return;
  database = await createTestDatabase(import.meta.url);
  sim = await spawnWaSimProcess();
  dataDir = await mkdtemp(join(tmpdir(), 'wa-durability-'));
  env = {
    NODE_ENV: 'development',
    DATABASE_URL: database.url,
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    JWT_SECRET: randomBytes(24).toString('hex'),
    WA_WS_URL: sim.url,
    WA_NOISE_ROOT_PUBLIC_KEY: sim.rootPublicKeyHex,
    SESSION_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    LOG_LEVEL: 'warn',
  };
}, 60_000);
afterAll(async () => {
  if (!serverUrl) return;
  await sim.close();
  await database.drop();
  await rm(dataDir, { recursive: true, force: true });
});

async function openCount(fleet: SeededSession[]): Promise<number> {
  const keys = new Set(fleet.map((s) => s.noiseKey));
  return (await sim.control.connections()).filter((c) => c.phase === 'open' && keys.has(c.noiseKey)).length;
}

/** Sessions the daemon itself has recorded as connected (the simulator's `open` comes a little earlier). */
async function recordedConnected(fleet: SeededSession[]): Promise<number> {
  const logger = pino({ level: 'silent' });
  const db = await openDatabase({ databaseUrl: database.url, dataDir, logger, migrate: false });
  try {
    const ids = fleet.map((s) => s.id);
    const rows = await db.orm.em
      .fork()
      .getConnection()
      .execute<{ n: string }[]>('select count(*) as n from whatsapp_session where status = ? and id in (?)', [
        'connected',
        ids,
      ]);
    return Number(rows[0].n);
  } finally {
    await db.close();
  }
}

async function liveCount(fleet: SeededSession[]): Promise<number> {
  const keys = new Set(fleet.map((s) => s.noiseKey));
  return (await sim.control.connections()).filter((c) => keys.has(c.noiseKey)).length;
}

describe.skipIf(!serverUrl)(
  'durability of the daemon process (needs TEST_DATABASE_URL)',
  { timeout: 120_000 },
  () => {
    it('after kill -9 with 20 connected sessions, a restart logs all 20 in again within 20 s with their stored creds', async () => {
      const fleet = await seedPairedSessions({
        databaseUrl: database.url,
        dataDir,
        env,
        count: 20,
        phonePrefix: '55118',
      });
      const first = spawnDaemon(env);
      await sim.control.waitFor(async () => (await openCount(fleet)) === 20, 60_000);

      first.child.kill('SIGKILL');
      await first.exited;
      await sim.control.waitFor(async () => (await liveCount(fleet)) === 0, 10_000);

      const restartedAt = Date.now();
      const second = spawnDaemon(env);
      await sim.control.waitFor(async () => (await openCount(fleet)) === 20, 20_000);
      const elapsed = Date.now() - restartedAt;
      expect(elapsed).toBeLessThan(20_000);
      for (const s of fleet) {
        expect(await sim.control.loginCount(s.noiseKey)).toBe(2);
        expect(await sim.control.registrationCount(s.noiseKey)).toBe(0);
      }

      await sim.control.waitFor(async () => (await recordedConnected(fleet)) === 20, 10_000);
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);

      // The transition log shows each session started twice: once per daemon.
      const logger = pino({ level: 'silent' });
      const db = await openDatabase({ databaseUrl: database.url, dataDir, logger });
      const repo = createSessionRepository({
        orm: db.orm,
        keyring: await loadKeyring({ env, dataDir, logger }),
      });
      for (const s of fleet) {
        const events = (await repo.listEvents(s.id, { pageSize: 100 })).items;
        expect(events.filter((e) => e.from === 'idle' && e.to === 'connecting').length).toBe(2);
        expect(events[0]).toMatchObject({ from: 'connecting', to: 'connected' });
      }
      await db.close();
    });

    it('exits 0 within 10 s on SIGTERM with 100 sessions connected, and a restart restores them', async () => {
      const fleet = await seedPairedSessions({
        databaseUrl: database.url,
        dataDir,
        env,
        count: 100,
        phonePrefix: '55117',
      });
      const first = spawnDaemon(env);
      await sim.control.waitFor(async () => (await openCount(fleet)) === 100, 90_000);

      const stoppedAt = Date.now();
      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);
      expect(Date.now() - stoppedAt).toBeLessThan(10_000);
      await sim.control.waitFor(async () => (await liveCount(fleet)) === 0, 10_000);
      // Graceful stop closes sockets; it never logs a device out.
      expect(first.output()).not.toMatch(/logged out|logout/i);

      const second = spawnDaemon(env);
      await sim.control.waitFor(async () => (await openCount(fleet)) === 100, 60_000);
      for (const s of fleet) expect(await sim.control.registrationCount(s.noiseKey)).toBe(0);
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    });
  },
);
