import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/persistence/database.js';
import { createPgAuthStore } from '../src/persistence/pg-auth-store.js';
import { loadKeyring } from '../src/persistence/secret-box.js';
import { createSessionRepository } from '../src/persistence/session-repository.js';
import { spawnDaemon } from './support/daemon-process.js';
import { freePort } from './support/free-port.js';
import { until } from './support/until.js';
import { startWaSim, type WaSim } from './support/wa-sim/index.js';

const logger = pino({ level: 'silent' });
let sim: WaSim;
let dataDir: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  sim = await startWaSim();
  dataDir = await mkdtemp(join(tmpdir(), 'wa-embedded-'));
  env = {
    PATH: process.env.PATH,
    NODE_ENV: 'development',
    DATA_DIR: dataDir,
    WA_WS_URL: sim.url,
    WA_NOISE_ROOT_PUBLIC_KEY: sim.rootPublicKeyHex,
    SESSION_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    LOG_LEVEL: 'info',
    // The HTTP API listens too: any free port on loopback.
    HOST: '127.0.0.1',
    PORT: '0',
  };
});
afterAll(async () => {
  await sim.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('npm start with no DATABASE_URL (embedded PGlite)', () => {
  it('restores a stored session from DATA_DIR, refuses a second daemon on it, and exits 0 on SIGTERM', async () => {
    // A session left by an earlier run: desired running, paired creds.
    const db = await openDatabase({ dataDir, logger });
    const keyring = await loadKeyring({ env, dataDir, logger });
    const row = await createSessionRepository({ orm: db.orm, keyring }).create({
      usuarioId: 1,
      deviceName: 'embedded',
      desiredState: 'running',
    });
    const auth = await createPgAuthStore({ orm: db.orm, keyring, logger }).open(String(row.id));
    auth.state.creds.me = { id: '5511977770001:1@s.whatsapp.net', name: 'embedded' };
    await auth.saveCreds();
    const key = Buffer.from(auth.state.creds.noiseKey.public).toString('hex');
    await db.close();

    const first = spawnDaemon(env);
    await sim.waitFor(() => sim.connections().some((c) => c.noiseKey === key && c.phase === 'open'), 45_000);
    expect(sim.loginCount(key)).toBe(1);
    // The daemon logs that it runs on the embedded database once it listens, a moment after the login.
    await sim.waitFor(() => first.output().includes('"embedded_db":true'), 15_000);

    const second = spawnDaemon(env);
    expect(await second.exited).toBe(1);
    expect(second.output()).toMatch(/DATA_DIR .* is in use by another wa-supervisor/);
    expect(sim.handshakeCount(key)).toBe(1);

    const stoppedAt = Date.now();
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    await sim.waitFor(() => !sim.connections().some((c) => c.noiseKey === key));

    // The session is still there for the next start, and nothing logged a secret.
    const again = await openDatabase({ dataDir, logger });
    const stored = await createSessionRepository({ orm: again.orm, keyring }).get(row.id);
    await again.close();
    expect(stored).toMatchObject({ deviceName: 'embedded', desiredState: 'running', status: 'connected' });
    expect(first.output()).not.toContain(env.SESSION_ENCRYPTION_KEY);
  }, 90_000);
});

describe('shutdown signals', () => {
  it('stops taking requests at the first SIGTERM, and a second one exits at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wa-signals-'));
    const port = await freePort();
    const daemon = spawnDaemon({ ...env, DATA_DIR: dir, PORT: String(port) });
    try {
      const base = `http://127.0.0.1:${port}`;
      await until('the daemon to answer', async () =>
        (await fetch(`${base}/healthz`).catch(() => null))?.ok ? true : undefined,
      );
      // A request whose body is still arriving holds the first shutdown in its 2 s wait for
      // HTTP connections (an idle connection or an event stream would be closed at once).
      const slow = connect(port, '127.0.0.1');
      await new Promise((resolve) => slow.once('connect', resolve));
      slow.write(
        'POST /api/v1/whatsapp/sessions/ HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{"device_name":',
      );
      slow.on('error', () => undefined);
      await until('the daemon to see the slow request', async () =>
        daemon.output().includes('"url":"/api/v1/whatsapp/sessions/"') ? true : undefined,
      );

      daemon.child.kill('SIGTERM');
      await until('the listener to close', async () =>
        (await fetch(`${base}/healthz`).then(
          () => false,
          () => true,
        ))
          ? true
          : undefined,
      );
      const secondAt = Date.now();
      daemon.child.kill('SIGTERM');
      expect(await daemon.exited).toBe(1);
      expect(Date.now() - secondAt).toBeLessThan(1_500);
      expect(daemon.output()).toContain('second signal: exiting now');
      expect(daemon.output()).not.toContain('"msg":"stopped"');
      slow.destroy();
    } finally {
      if (daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
