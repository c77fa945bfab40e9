import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupToText, createBackupService } from '../../src/backup/backup-service.js';
import { loadConfig } from '../../src/config.js';
import { type Daemon, startDaemon } from '../../src/daemon.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { startWaSim, type WaSim } from '../support/wa-sim/index.js';
import { authSnapshot, sampleKeys } from './helpers.js';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const PASSPHRASE = 'moving to another installation';

// Two installations: their own database (or embedded PGlite under their own DATA_DIR) and key.
interface Installation {
  database?: TestDatabase;
  dataDir: string;
  env: Record<string, string>;
  daemon?: Daemon;
}

const useServer = Boolean(process.env.TEST_DATABASE_URL?.trim());
let sim: WaSim;
const installations: Installation[] = [];

async function installation(label: string): Promise<Installation> {
  const inst: Installation = {
    database: useServer ? await createTestDatabase(`${import.meta.url}-${label}`) : undefined,
    dataDir: await mkdtemp(join(tmpdir(), `wa-backup-${label}-`)),
    env: { SESSION_ENCRYPTION_KEY: randomBytes(32).toString('base64'), NODE_ENV: 'test' },
  };
  installations.push(inst);
  return inst;
}

async function start(inst: Installation): Promise<Daemon> {
  const config = loadConfig({
    DATABASE_URL: inst.database?.url,
    DATA_DIR: inst.dataDir,
    WA_WS_URL: sim.url,
    WA_NOISE_ROOT_PUBLIC_KEY: sim.rootPublicKeyHex,
    RECONNECT_DELAYS: '0,0.2',
    RECONNECT_JITTER: '0',
  });
  inst.daemon = await startDaemon({
    config,
    logger,
    env: inst.env,
    socketConfig: { connectTimeoutMs: 5_000, defaultQueryTimeoutMs: 5_000 },
  });
  return inst.daemon;
}

/** The session's auth state once two reads 300 ms apart agree. */
async function settledSnapshot(d: Daemon, id: number) {
  let last = await authSnapshot(d.db.orm, d.keyring, id);
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const next = await authSnapshot(d.db.orm, d.keyring, id);
    if (JSON.stringify(next) === JSON.stringify(last)) return next;
    last = next;
  }
  throw new Error('the auth state kept changing');
}

beforeAll(async () => {
  sim = await startWaSim();
});
afterAll(async () => {
  for (const inst of installations) {
    await inst.daemon?.close();
    await inst.database?.drop();
    await rm(inst.dataDir, { recursive: true, force: true });
  }
  await sim?.close();
});

describe('backup across installations', { timeout: 60_000 }, () => {
  it('restores a paired session on another daemon, which logs in without a new QR', async () => {
    const a = await start(await installation('a'));
    const row = await a.sessions.create({ usuarioId: 1, deviceName: 'Moving', desiredState: 'running' });
    const idA = String(row.id);
    a.supervisor.add(idA, { autoReconnect: true, start: true });
    await a.supervisor.waitForSession(idA, (v) => v.status === 'qr');
    const qr = a.supervisor.ref(idA)?.getSnapshot().context.qr as string;
    const { jid } = await sim.pair(qr, { phone: '5511977770001' });
    await a.supervisor.waitForSession(idA, (v) => v.status === 'connected');

    // Stop it first: one account online twice would make WhatsApp drop one (440).
    a.supervisor.stop(idA);
    await a.supervisor.waitForSession(idA, (v) => v.status === 'idle');
    const opened = await a.authStore.open(idA);
    await opened.state.keys.set(sampleKeys());
    const noiseKey = Buffer.from(opened.state.creds.noiseKey.public).toString('hex');
    await sim.waitFor(() => !sim.connections().some((c) => c.noiseKey === noiseKey));
    expect(sim.registrationCount(noiseKey)).toBe(1);
    const loginsBefore = sim.loginCount(noiseKey);

    // Baileys may still be writing what it learnt at login (lid mappings, device lists) after the stop.
    const before = await settledSnapshot(a, row.id);
    const file = await createBackupService({ orm: a.db.orm, keyring: a.keyring }).exportSession(row.id, {
      passphrase: PASSPHRASE,
    });
    expect(await authSnapshot(a.db.orm, a.keyring, row.id)).toEqual(before);
    expect(Object.keys(before.keys).length).toBeGreaterThan(Object.keys(sampleKeys()).length);
    await a.close();

    const b = await start(await installation('b'));
    expect(b.keyring.currentKeyId).not.toBe(a.keyring.currentKeyId);
    const { sessionId } = await createBackupService({ orm: b.db.orm, keyring: b.keyring }).importSession(
      backupToText(file),
      { passphrase: PASSPHRASE, usuarioId: 2 },
    );
    expect(await b.sessions.get(sessionId)).toMatchObject({
      usuarioId: 2,
      status: 'idle',
      desiredState: 'stopped',
    });
    expect(await authSnapshot(b.db.orm, b.keyring, sessionId)).toEqual(before);

    const idB = String(sessionId);
    b.supervisor.add(idB, { autoReconnect: true, start: true });
    await b.supervisor.waitForSession(idB, (v) => v.status === 'connected');
    expect(sim.loginCount(noiseKey)).toBe(loginsBefore + 1);
    expect(sim.registrationCount(noiseKey)).toBe(1);
    expect(sim.connections().find((c) => c.noiseKey === noiseKey && c.phase === 'open')?.jid).toBe(jid);
    const { state } = await b.authStore.open(idB);
    expect(state.creds.me?.id).toBe(jid);
  });
});
