import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { type Daemon, startDaemon } from '../src/daemon.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
import { startWaSim, type WaSim } from './support/wa-sim/index.js';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const env = { SESSION_ENCRYPTION_KEY: randomBytes(32).toString('base64'), NODE_ENV: 'test' };

// With TEST_DATABASE_URL unset the daemon runs its own embedded PGlite under dataDir.
const serverUrl = process.env.TEST_DATABASE_URL?.trim();
let database: TestDatabase | undefined;
let sim: WaSim;
let dataDir: string;
const daemons: Daemon[] = [];

beforeAll(async () => {
  if (serverUrl) database = await createTestDatabase(import.meta.url);
  sim = await startWaSim();
  dataDir = await mkdtemp(join(tmpdir(), 'wa-daemon-'));
});
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.close();
});
afterAll(async () => {
  await sim.close();
  await database?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

async function daemon(delaysSeconds = '0,0.2,0.2,0.2'): Promise<Daemon> {
  const config = loadConfig({
    DATABASE_URL: database?.url,
    DATA_DIR: dataDir,
    WA_WS_URL: sim.url,
    WA_NOISE_ROOT_PUBLIC_KEY: sim.rootPublicKeyHex,
    RECONNECT_DELAYS: delaysSeconds,
    RECONNECT_JITTER: '0',
  });
  const d = await startDaemon({
    config,
    logger,
    env,
    socketConfig: { connectTimeoutMs: 5_000, defaultQueryTimeoutMs: 5_000 },
  });
  daemons.push(d);
  return d;
}

/** Ends a daemon the way a crash would: no flush of the transition queue, no graceful close of sockets first. */
async function crash(d: Daemon): Promise<void> {
  daemons.splice(daemons.indexOf(d), 1);
  d.supervisor.actor.stop();
  await d.db.close();
}

const noiseKeyOf = async (d: Daemon, id: number) =>
  Buffer.from((await d.authStore.open(String(id))).state.creds.noiseKey.public).toString('hex');

describe('the daemon with PostgreSQL', { timeout: 60_000 }, () => {
  it('pairs through QR, and after an abrupt stop a new daemon logs in with the stored creds', async () => {
    const first = await daemon();
    const row = await first.sessions.create({ usuarioId: 1, deviceName: 'pairing', desiredState: 'running' });
    const id = String(row.id);
    first.supervisor.add(id, { autoReconnect: true, start: true });
    await first.supervisor.waitForSession(id, (v) => v.status === 'qr');
    const qr = first.supervisor.ref(id)?.getSnapshot().context.qr as string;
    const { jid } = await sim.pair(qr, { phone: '5511988880001' });
    await first.supervisor.waitForSession(id, (v) => v.status === 'connected');
    const key = await noiseKeyOf(first, row.id);
    expect(sim.registrationCount(key)).toBe(1);
    expect(sim.loginCount(key)).toBe(1);

    await crash(first);
    await sim.waitFor(() => !sim.connections().some((c) => c.noiseKey === key));

    const second = await daemon();
    await second.supervisor.waitForSession(id, (v) => v.status === 'connected');
    expect(sim.loginCount(key)).toBe(2);
    expect(sim.registrationCount(key)).toBe(1);
    const { state } = await second.authStore.open(id);
    expect(state.creds.me?.id).toBe(jid);
    await second.transitions.flush();
    const events = (await second.sessions.listEvents(row.id, { pageSize: 50 })).items.reverse();
    // The restore shows in the log: a fresh idle → connecting after the pairing episode.
    expect(events.filter((e) => e.from === 'idle' && e.to === 'connecting').length).toBeGreaterThanOrEqual(2);
  });

  it('writes every transition of a kick-and-reconnect episode to the events table, in order', async () => {
    const d = await daemon('0.3,0.3');
    const row = await d.sessions.create({ usuarioId: 1, deviceName: 'kick', desiredState: 'running' });
    const id = String(row.id);
    const { state, saveCreds } = await d.authStore.open(id);
    state.creds.me = { id: '5511988880002:1@s.whatsapp.net', name: 'kick' };
    await saveCreds();
    const key = Buffer.from(state.creds.noiseKey.public).toString('hex');

    d.supervisor.add(id, { autoReconnect: true, start: true });
    await d.supervisor.waitForSession(id, (v) => v.status === 'connected');
    sim.kick({ noiseKey: key }, 'close');
    await d.supervisor.waitForSession(id, (v) => v.status === 'backoff');
    await d.supervisor.waitForSession(id, (v) => v.status === 'connected');
    await d.transitions.flush();

    const events = (await d.sessions.listEvents(row.id, { pageSize: 50 })).items.reverse();
    expect(events.map((e) => [e.from, e.to, e.event, e.attempt, e.delayMs, e.code])).toEqual([
      ['idle', 'connecting', 'session.start', 0, null, null],
      ['connecting', 'connected', 'client.open', 0, null, null],
      ['connected', 'backoff', 'client.closed', 1, 300, 428],
      ['backoff', 'connecting', 'retry', 1, null, null],
      ['connecting', 'connected', 'client.open', 0, null, null],
    ]);
    const stored = await d.sessions.get(row.id);
    expect(stored).toMatchObject({ status: 'connected', reconnectAttempts: 0 });
    expect(stored?.lastError).toMatchObject({ code: 428, reason: 'connection_closed' });
    expect(stored?.connectedAt?.getTime()).toBe(events[4].at.getTime());
    expect(stored?.disconnectedAt?.getTime()).toBe(events[2].at.getTime());
    expect(stored?.lastReconnectAt?.getTime()).toBe(events[2].at.getTime());
  });

  it('restores a session in backoff at attempt 3 with its remaining delay, not delay 1', async () => {
    const setup = await daemon('0,0,20');
    const row = await setup.sessions.create({ usuarioId: 1, deviceName: 'restore', desiredState: 'running' });
    const { state, saveCreds } = await setup.authStore.open(String(row.id));
    state.creds.me = { id: '5511988880003:1@s.whatsapp.net', name: 'restore' };
    await saveCreds();
    const key = Buffer.from(state.creds.noiseKey.public).toString('hex');
    const scheduledAt = new Date(Date.now() - 18_500); // attempt 3 waits 20 s: 1.5 s are left
    await setup.sessions.recordTransition({
      sessionId: row.id,
      at: scheduledAt,
      from: 'connecting',
      to: 'backoff',
      event: 'client.closed',
      attempt: 3,
      delayMs: 20_000,
      reason: 'connection_closed',
      code: 428,
      taskId: null,
      status: 'backoff',
      lastReconnectAt: scheduledAt,
      lastError: { code: 428, reason: 'connection_closed', message: 'Connection Closed', at: scheduledAt },
    });
    await setup.close();
    daemons.splice(daemons.indexOf(setup), 1);

    const restoredAt = Date.now();
    const d = await daemon('0,0,20');
    const id = String(row.id);
    const view = d.supervisor.view(id);
    expect(view).toMatchObject({ status: 'backoff', attempt: 3 });
    expect(view?.nextRetryAt).toBeGreaterThan(restoredAt + 500);
    expect(view?.nextRetryAt).toBeLessThan(restoredAt + 2_500);
    expect(sim.handshakeCount(key)).toBe(0);
    await d.supervisor.waitForSession(id, (v) => v.status === 'connected', 10_000);
    expect(Date.now() - restoredAt).toBeGreaterThanOrEqual(1_000);
    expect(sim.loginCount(key)).toBe(1);
  });

  it('keeps a failed session failed on boot', async () => {
    const setup = await daemon();
    const row = await setup.sessions.create({ usuarioId: 1, deviceName: 'failed', desiredState: 'running' });
    const at = new Date();
    await setup.sessions.recordTransition({
      sessionId: row.id,
      at,
      from: 'connecting',
      to: 'failed',
      event: 'client.closed',
      attempt: 0,
      delayMs: null,
      reason: 'logged_out',
      code: 401,
      taskId: null,
      status: 'failed',
      lastError: { code: 401, reason: 'logged_out', message: 'Connection Failure', at },
    });
    await setup.close();
    daemons.splice(daemons.indexOf(setup), 1);

    const d = await daemon();
    expect(d.supervisor.view(String(row.id))).toMatchObject({
      status: 'failed',
      failureReason: 'logged_out',
    });
  });
});
