import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AnyActorRef, createActor, waitFor } from 'xstate';
import { sessionMachine } from '../machines/session.machine.js';
import { sessionStatus } from '../machines/session-view.js';
import { gateInFlight, sessionSystemId, supervisorWithSessions } from '../machines/supervisor.machine.js';
import { createLogger } from '../src/logger.js';
import { type AuthStateStore, createMemoryAuthStore } from '../src/whatsapp/auth-store.js';
import { hardenBaileys } from '../src/whatsapp/baileys-hardening.js';
import { type ConnectionDeps, createConnectionLogic } from '../src/whatsapp/connection.js';
import { startWaSim, type WaSim } from './support/wa-sim/index.js';

const logger = pino({ level: 'silent' });
let sim: WaSim;
let store: AuthStateStore;
const actors: AnyActorRef[] = [];

const connectionLogic = (overrides: Partial<ConnectionDeps> = {}) =>
  createConnectionLogic({
    authStore: store,
    logger,
    waWebSocketUrl: sim.url,
    socketConfig: { connectTimeoutMs: 5_000, qrTimeout: 5_000 },
    ...overrides,
  });

const startSession = (sessionId: string, autoReconnect = true, overrides: Partial<ConnectionDeps> = {}) => {
  const actor = createActor(sessionMachine.provide({ actors: { connection: connectionLogic(overrides) } }), {
    input: { sessionId, autoReconnect, policy: { delaysMs: [50, 50, 50], jitter: 0 } },
  });
  actors.push(actor);
  actor.start();
  actor.send({ type: 'session.start' });
  return actor;
};

type SessionActor = ReturnType<typeof startSession>;
const statusOf = (actor: SessionActor) => sessionStatus(actor.getSnapshot());
const reach = (actor: SessionActor, status: ReturnType<typeof statusOf>) =>
  waitFor(actor, (s) => sessionStatus(s) === status, { timeout: 10_000 });

/** Stores paired credentials for `sessionId`; returns its noise key (hex), the sim's name for it. */
const seedPaired = async (sessionId: string, jid = `55119${sessionId.padStart(8, '0')}:1@s.whatsapp.net`) => {
  const { state, saveCreds } = await store.open(sessionId);
  state.creds.me = { id: jid, name: 'test' };
  state.creds.registered = true;
  await saveCreds();
  return Buffer.from(state.creds.noiseKey.public).toString('hex');
};

const storedMe = async (sessionId: string) => (await store.open(sessionId)).state.creds.me;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  sim = await startWaSim({ qrRefs: 2 });
});

beforeEach(() => {
  store = createMemoryAuthStore();
  hardenBaileys({ logger, noiseRootPublicKeyHex: sim.rootPublicKeyHex });
});

afterEach(() => {
  for (const actor of actors.splice(0)) actor.stop();
});

afterAll(async () => {
  await sim?.close();
  hardenBaileys({ logger });
});

describe('connection actor against the simulator', () => {
  it('logs in with stored credentials and opens', async () => {
    const noiseKey = await seedPaired('1');
    const actor = startSession('1');
    await reach(actor, 'connected');
    expect(sim.loginCount(noiseKey)).toBe(1);
    expect(sim.registrationCount(noiseKey)).toBe(0);
    expect(actor.getSnapshot().context.lastError).toBeNull();
  });

  it('shows a QR, pairs, saves the creds before the 515 restart and opens with them', async () => {
    const actor = startSession('2');
    await reach(actor, 'qr');
    const { qr } = actor.getSnapshot().context;
    expect(qr).toMatch(/^https:\/\/wa\.me\/settings\/linked_devices#/);
    const { jid } = await sim.pair(qr as string, { phone: '5511988880002' });
    await reach(actor, 'connected');
    expect((await storedMe('2'))?.id).toBe(jid);
    const noiseKey = Buffer.from((await store.open('2')).state.creds.noiseKey.public).toString('hex');
    // one registration, then one login with the saved creds (a lost save would register again)
    expect(sim.registrationCount(noiseKey)).toBe(1);
    expect(sim.loginCount(noiseKey)).toBe(1);
    expect(actor.getSnapshot().context.attempt).toBe(0);
  });

  it('rejects a pair-success whose account signature is forged and saves nothing', async () => {
    const actor = startSession('3', false);
    await reach(actor, 'qr');
    const { qr } = actor.getSnapshot().context;
    await expect(sim.pair(qr as string, { forgeAccountSignature: true })).rejects.toThrow();
    await reach(actor, 'failed');
    expect(actor.getSnapshot().context.lastError).toMatchObject({
      code: 500,
      reason: 'pairing_rejected',
      message: expect.stringMatching(/account signature/),
    });
    expect(await storedMe('3')).toBeUndefined();
  });

  it('refuses a server whose certificate chain does not lead to the trusted root', async () => {
    hardenBaileys({ logger }); // WhatsApp's real root: the simulator's chain cannot verify
    const noiseKey = await seedPaired('4');
    const opened: string[] = [];
    const actor = startSession('4', false);
    actor.subscribe((s) => {
      if (sessionStatus(s) === 'connected') opened.push('open');
    });
    await reach(actor, 'failed');
    expect(actor.getSnapshot().context.lastError).toMatchObject({
      code: 400,
      reason: 'certificate_invalid',
      message: expect.stringMatching(/^server certificate chain did not verify/),
    });
    expect(opened).toEqual([]);
    expect(sim.handshakeCount(noiseKey)).toBe(0);
    expect(sim.loginCount(noiseKey)).toBe(0);
  });

  it('reports a refused connection as 503 unavailable, not as the 408 of an exhausted QR', async () => {
    sim.refuseConnections(60_000);
    try {
      await seedPaired('5');
      const actor = startSession('5', false);
      await reach(actor, 'failed');
      expect(actor.getSnapshot().context.lastError).toMatchObject({ code: 503, reason: 'unavailable' });
      expect(actor.getSnapshot().context.failureReason).toBe('disconnected');
    } finally {
      sim.refuseConnections(0);
    }
  });

  it('ends the QR episode as qr_timeout when the refs run out', async () => {
    const actor = startSession('6', true, { socketConfig: { qrTimeout: 50 } });
    await reach(actor, 'failed');
    expect(actor.getSnapshot().context).toMatchObject({
      failureReason: 'qr_timeout',
      lastError: { code: 408, reason: 'qr_timeout' },
    });
  });

  it('never writes the QR or the adv secret to the logs, even at trace', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    const traced = createLogger({ level: 'trace', destination: out });
    const actor = startSession('9', true, { logger: traced, baileysLogLevel: 'trace' });
    await reach(actor, 'qr');
    const qr = actor.getSnapshot().context.qr as string;
    await sim.pair(qr);
    await reach(actor, 'connected');
    const { advSecretKey } = (await store.open('9')).state.creds;
    expect(text).toMatch(/qr shown/);
    expect(text).toMatch(/"component":"baileys"/);
    expect(text).not.toContain(qr);
    expect(text).not.toContain(advSecretKey);
    expect(text).not.toContain(Buffer.from(advSecretKey, 'base64').toString('hex'));
  });

  it('reconnects after the server drops the connection', async () => {
    const noiseKey = await seedPaired('7');
    const actor = startSession('7');
    await reach(actor, 'connected');
    sim.kick({ noiseKey }, 'close');
    await waitFor(actor, (s) => s.context.lastError?.code === 428, { timeout: 5_000 });
    await reach(actor, 'connected');
    expect(sim.loginCount(noiseKey)).toBe(2);
  });

  it('stop ends the socket without logging out, and nothing dials again', async () => {
    const noiseKey = await seedPaired('8');
    const actor = startSession('8');
    await reach(actor, 'connected');
    actor.send({ type: 'session.stop' });
    expect(statusOf(actor)).toBe('idle');
    await sim.waitFor(() => !sim.connections().some((c) => c.noiseKey === noiseKey));
    await sleep(300);
    expect(sim.handshakeCount(noiseKey)).toBe(1);
    // not logged out: the same creds log in again
    actor.send({ type: 'session.start' });
    await reach(actor, 'connected');
    expect(sim.loginCount(noiseKey)).toBe(2);
  });
});

describe('connection actor under a supervisor (connect gate)', () => {
  const startSupervisor = (maxConcurrentConnects: number) => {
    const connection = connectionLogic();
    const supervisor = createActor(
      supervisorWithSessions(sessionMachine.provide({ actors: { connection } })),
      {
        systemId: 'supervisor',
        input: { maxConcurrentConnects, policy: { delaysMs: [50, 50], jitter: 0 } },
      },
    );
    actors.push(supervisor);
    supervisor.start();
    return supervisor;
  };
  const statusIn = (supervisor: ReturnType<typeof startSupervisor>, id: string) =>
    sessionStatus((supervisor.system.get(sessionSystemId(id)) as AnyActorRef).getSnapshot());

  it('dials only with a slot and gives each slot back once the connection opens', async () => {
    const ids = ['21', '22', '23', '24'];
    for (const id of ids) await seedPaired(id);
    sim.resetStats();
    const supervisor = startSupervisor(1);
    for (const id of ids)
      supervisor.send({ type: 'supervisor.add', sessionId: id, autoReconnect: true, start: true });
    // A session's snapshot changes without the supervisor's: poll.
    await sim.waitFor(() => ids.every((id) => statusIn(supervisor, id) === 'connected'), 10_000);
    expect(sim.maxHandshakesInFlight()).toBe(1);
    expect(gateInFlight(supervisor.getSnapshot())).toBe(0);
    expect(supervisor.getSnapshot().context.gate.maxInFlight).toBe(1);
  });

  it('a session stopped while waiting for a slot leaves the queue and never dials', async () => {
    const first = await seedPaired('31');
    const second = await seedPaired('32');
    const supervisor = startSupervisor(1);
    supervisor.send({ type: 'supervisor.add', sessionId: '31', autoReconnect: true, start: true });
    supervisor.send({ type: 'supervisor.add', sessionId: '32', autoReconnect: true, start: true });
    expect(supervisor.getSnapshot().context.gate.queued).toBe(1);
    supervisor.send({ type: 'supervisor.command', sessionId: '32', command: { type: 'session.stop' } });
    expect(supervisor.getSnapshot().context.gate.queued).toBe(0);
    await sim.waitFor(() => statusIn(supervisor, '31') === 'connected', 10_000);
    expect(gateInFlight(supervisor.getSnapshot())).toBe(0);
    expect(sim.handshakeCount(first)).toBe(1);
    expect(sim.handshakeCount(second)).toBe(0);
  });
});

describe('stopping does not hold the process', () => {
  const child = fileURLToPath(new URL('./fixtures/stop-right-after-open.ts', import.meta.url));

  /** Runs the fixture; resolves with ms from its "stopped" line to its exit, or null if still alive at `limitMs`. */
  const exitDelay = (mode: 'connector' | 'bare-baileys', limitMs: number) =>
    new Promise<number | null>((resolve, reject) => {
      const proc = spawn(process.execPath, ['--import', 'tsx', child, mode], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let stoppedAt: number | undefined;
      let out = '';
      const limit = setTimeout(() => {
        proc.kill('SIGKILL');
        resolve(null);
      }, limitMs);
      proc.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (stoppedAt === undefined && out.includes('stopped')) stoppedAt = Date.now();
      });
      proc.on('exit', (code) => {
        clearTimeout(limit);
        if (stoppedAt === undefined || code !== 0) reject(new Error(`fixture failed (exit ${code}): ${out}`));
        else resolve(Date.now() - stoppedAt);
      });
    });

  it('bare Baileys: end() right after open leaves query timers that keep the process alive', async () => {
    expect(await exitDelay('bare-baileys', 5_000)).toBeNull();
  });

  it('the connector: stop right after open, and the process exits at once', async () => {
    const delay = await exitDelay('connector', 15_000);
    expect(delay).not.toBeNull();
    expect(delay).toBeLessThan(1_500);
  });
});
