import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DaemonProcess,
  type SeededSession,
  seedPairedSessions,
  spawnDaemon,
} from '../support/daemon-process.js';
import { freePort } from '../support/free-port.js';
import { createPgCluster, type PgCluster, pgClusterUnavailable } from '../support/pg-cluster.js';
import { spawnWaSimProcess, type WaSimProcess } from '../support/wa-sim/index.js';

// A real PostgreSQL server goes down under a daemon with 50 connected sessions, and comes back.
// The daemon, the simulator and the server are separate processes. The server is a cluster of its
// own (pg_createcluster), restarted with pg_ctlcluster, so suites on the shared server are not hit.
// Runs after the other suites (vitest.outage.config.ts).
const FLEET = 50;
const KICKED = 10;
const why = process.env.TEST_DATABASE_URL?.trim()
  ? pgClusterUnavailable()
  : 'TEST_DATABASE_URL is unset (no real PostgreSQL in this environment)';
if (why) console.warn(`database-restart durability test skipped: ${why}`);

let cluster: PgCluster | undefined;
let sim: WaSimProcess | undefined;
let daemon: DaemonProcess | undefined;
let dataDir = '';
let databaseUrl = '';
let port = 0;
const lastEnv: NodeJS.ProcessEnv = {};
const lastFleet: SeededSession[] = [];

async function query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

const readyz = () =>
  fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(5_000) }).then(
    (r) => r.status,
    () => 0,
  );

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline || daemon?.child.exitCode != null) {
      throw new Error(
        `gave up after ${timeoutMs} ms (or the daemon exited) waiting for ${what}\n${daemon?.output().slice(-4000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** noise key → id of its open connection in the simulator. */
async function openConnections(fleet: SeededSession[]): Promise<Map<string, string>> {
  const keys = new Set(fleet.map((s) => s.noiseKey));
  const open = (await sim?.control.connections()) ?? [];
  return new Map(
    open.filter((c) => c.phase === 'open' && keys.has(c.noiseKey)).map((c) => [c.noiseKey, c.id]),
  );
}

beforeAll(async () => {
  if (why) return;
  cluster = createPgCluster(await freePort());
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  await admin.query('create database wa_outage');
  await admin.end();
  databaseUrl = cluster.url.replace(/\/postgres$/, '/wa_outage');
  sim = await spawnWaSimProcess();
  dataDir = await mkdtemp(join(tmpdir(), 'wa-outage-'));
  port = await freePort();
}, 120_000);

afterAll(async () => {
  if (daemon && daemon.child.exitCode === null) {
    daemon.child.kill('SIGKILL');
    await daemon.exited;
  }
  await sim?.close();
  // Also when the test failed while the server was down: the cluster is stopped and removed.
  cluster?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}, 60_000);

describe.skipIf(why !== null)(
  'a PostgreSQL restart under 50 connected sessions',
  { timeout: 240_000 },
  () => {
    it('drops no session, persists the outage transitions in order once it is back, and /readyz follows it', async () => {
      const env: NodeJS.ProcessEnv = {
        NODE_ENV: 'development',
        DATABASE_URL: databaseUrl,
        DATA_DIR: dataDir,
        PORT: String(port),
        HOST: '127.0.0.1',
        JWT_SECRET: randomBytes(24).toString('hex'),
        WA_WS_URL: sim?.url,
        WA_NOISE_ROOT_PUBLIC_KEY: sim?.rootPublicKeyHex,
        SESSION_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        // Short, exact retries: sessions kicked during the outage cannot load their creds until it ends.
        RECONNECT_DELAYS: '0,1,2,2,2,2,2,2,2,2,2,2,2,2,2',
        RECONNECT_JITTER: '0',
        LOG_LEVEL: 'warn',
      };
      const fleet = await seedPairedSessions({
        databaseUrl,
        dataDir,
        env,
        count: FLEET,
        phonePrefix: '55116',
      });
      Object.assign(lastEnv, env);
      lastFleet.push(...fleet);
      const ids = fleet.map((s) => s.id);
      daemon = spawnDaemon(env);
      const connectedRows = async () =>
        Number(
          (
            await query<{ n: string }>(
              "select count(*) as n from whatsapp_session where status = 'connected' and id = any($1)",
              [ids],
            )
          )[0].n,
        );
      await until(
        `${FLEET} sessions open`,
        async () => (await openConnections(fleet)).size === FLEET,
        90_000,
      );
      await until(`${FLEET} recorded connected`, async () => (await connectedRows()) === FLEET, 30_000);
      expect(await readyz()).toBe(200);

      const before = await openConnections(fleet);
      const [{ max: lastEventId }] = await query<{ max: string }>(
        'select max(id) as max from whatsapp_session_event',
      );
      const kicked = fleet.slice(0, KICKED);
      const untouched = fleet.slice(KICKED);

      const downAt = new Date();
      cluster?.stop();
      let upAt: Date;
      try {
        await until('/readyz 503', async () => (await readyz()) === 503, 15_000);
        // Transitions while the database is down: each kicked session drops, then retries and fails to
        // load its creds (persistence_error) until the server is back.
        for (const s of kicked) expect(await sim?.control.kick({ noiseKey: s.noiseKey }, 'close')).toBe(1);
        await new Promise((r) => setTimeout(r, 4_000));
        expect(await readyz()).toBe(503);
      } finally {
        upAt = new Date();
        cluster?.start();
      }
      await until('/readyz 200', async () => (await readyz()) === 200, 30_000);

      // Everyone connected again, in the simulator and in the table.
      await until(`${FLEET} open again`, async () => (await openConnections(fleet)).size === FLEET, 60_000);
      await until(`${FLEET} recorded connected again`, async () => (await connectedRows()) === FLEET, 60_000);
      // The row said connected all along for the kicked ones: wait for their queued transitions too
      // (the writer retries with backoff, so they may land some seconds after the server is back).
      const reconnectedRows = async () =>
        Number(
          (
            await query<{ n: string }>(
              `select count(distinct session_id) as n from whatsapp_session_event
              where id > $1 and "to" = 'connected' and session_id = any($2)`,
              [lastEventId, kicked.map((s) => s.id)],
            )
          )[0].n,
        );
      await until(
        "the kicked sessions' reconnects written",
        async () => (await reconnectedRows()) === KICKED,
        60_000,
      );

      // The outage itself dropped nobody: the untouched sessions keep their very connection.
      const after = await openConnections(fleet);
      for (const s of untouched)
        expect(after.get(s.noiseKey), `session ${s.id}`).toBe(before.get(s.noiseKey));

      const events = await query<{
        session_id: number;
        from: string;
        to: string;
        at: Date;
        reason: string | null;
      }>(
        'select session_id, "from", "to", at, reason from whatsapp_session_event where id > $1 order by id',
        [lastEventId],
      );
      for (const s of untouched) expect(events.filter((e) => e.session_id === s.id)).toEqual([]);
      let duringOutage = 0;
      for (const s of kicked) {
        const own = events.filter((e) => e.session_id === s.id);
        // A chain with no gap: nothing lost, nothing out of order.
        expect(own[0], `session ${s.id}`).toMatchObject({ from: 'connected', to: 'backoff' });
        for (let i = 1; i < own.length; i++) {
          expect(own[i].from, `session ${s.id} event ${i}`).toBe(own[i - 1].to);
          expect(own[i].at.getTime()).toBeGreaterThanOrEqual(own[i - 1].at.getTime());
        }
        expect(own.at(-1)?.to).toBe('connected');
        expect(own.some((e) => e.to === 'failed')).toBe(false);
        duringOutage += own.filter((e) => e.at >= downAt && e.at <= upAt).length;
      }
      // Written after the fact, stamped with when they happened.
      expect(duringOutage).toBeGreaterThanOrEqual(KICKED * 2);

      daemon.child.kill('SIGTERM');
      expect(await daemon.exited, daemon.output()).toBe(0);
    });

    it('exits 0 within 10 s on SIGTERM while the database is down, saying what it could not write', async () => {
      if (!daemon) throw new Error('needs the daemon of the previous test');
      daemon = spawnDaemon(lastEnv);
      await until('/readyz 200', async () => (await readyz()) === 200, 60_000);
      cluster?.stop();
      try {
        await until('/readyz 503', async () => (await readyz()) === 503, 15_000);
        // A drop while the database is down leaves transitions queued that cannot be written.
        await sim?.control.kick({ noiseKey: lastFleet[0].noiseKey }, 'close');
        await new Promise((r) => setTimeout(r, 500));
        const stoppedAt = Date.now();
        daemon.child.kill('SIGTERM');
        expect(await daemon.exited, daemon.output()).toBe(0);
        expect(Date.now() - stoppedAt).toBeLessThan(10_000);
        expect(daemon.output()).toMatch(/transitions left unwritten at shutdown/);
      } finally {
        cluster?.start();
      }
    });
  },
);
