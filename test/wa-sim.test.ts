import makeWASocket, {
  type AuthenticationCreds,
  type ConnectionState,
  initAuthCreds,
  WA_CERT_DETAILS,
} from '@whiskeysockets/baileys';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeMemoryAuthState } from './support/memory-auth.js';
import { spawnWaSimProcess, startWaSim, type WaSim } from './support/wa-sim/index.js';

type Sock = ReturnType<typeof makeWASocket>;

const logger = pino({ level: 'silent' });
const originalRootKey = WA_CERT_DETAILS.PUBLIC_KEY;
let sim: WaSim;
const sockets: Sock[] = [];

const trustSim = (s: { rootPublicKeyHex: string }) => {
  WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(s.rootPublicKeyHex, 'hex');
};

const pairedCreds = (id = '5511999990001:1@s.whatsapp.net'): AuthenticationCreds => ({
  ...initAuthCreds(),
  me: { id, name: 'x' },
  registered: true,
});

const connect = (
  url: string,
  creds: AuthenticationCreds,
  extra: Partial<Parameters<typeof makeWASocket>[0]> = {},
) => {
  const sock = makeWASocket({
    waWebSocketUrl: url,
    auth: makeMemoryAuthState(creds),
    logger,
    defaultQueryTimeoutMs: 2_000,
    connectTimeoutMs: 5_000,
    ...extra,
  });
  sockets.push(sock);
  return sock;
};

/** resolves with the first connection.update that matches */
const nextUpdate = (sock: Sock, pred: (u: Partial<ConnectionState>) => boolean, timeoutMs = 10_000) =>
  new Promise<Partial<ConnectionState>>((resolve, reject) => {
    const timer = setTimeout(() => {
      sock.ev.off('connection.update', onUpdate);
      reject(new Error('timed out waiting for connection.update'));
    }, timeoutMs);
    const onUpdate = (u: Partial<ConnectionState>) => {
      if (!pred(u)) return;
      clearTimeout(timer);
      sock.ev.off('connection.update', onUpdate);
      resolve(u);
    };
    sock.ev.on('connection.update', onUpdate);
  });

const opened = (sock: Sock) => nextUpdate(sock, (u) => u.connection === 'open');
const closedCode = async (sock: Sock) => {
  const u = await nextUpdate(sock, (x) => x.connection === 'close');
  return (u.lastDisconnect?.error as { output?: { statusCode?: number } } | undefined)?.output?.statusCode;
};
const noiseHex = (creds: AuthenticationCreds) => Buffer.from(creds.noiseKey.public).toString('hex');

describe('wa-sim with bare Baileys', () => {
  beforeAll(async () => {
    sim = await startWaSim({ qrRefs: 2 });
    trustSim(sim);
  });

  afterEach(() => {
    for (const sock of sockets.splice(0)) sock.end(undefined);
  });

  afterAll(async () => {
    await sim.close();
    WA_CERT_DETAILS.PUBLIC_KEY = originalRootKey;
  });

  it('logs in pre-paired creds', async () => {
    const creds = pairedCreds();
    const sock = connect(sim.url, creds);
    await opened(sock);
    expect(sim.loginCount(noiseHex(creds))).toBe(1);
    expect(sim.handshakeCount(noiseHex(creds))).toBe(1);
    expect(sim.connections()).toContainEqual(
      expect.objectContaining({ noiseKey: noiseHex(creds), phase: 'open', kind: 'login', jid: creds.me?.id }),
    );
    expect(sim.handshakesInFlight()).toBe(0);
  });

  it('accepts the ED routing-info intro', async () => {
    const creds = { ...pairedCreds(), routingInfo: Buffer.from([8, 2, 8, 5]) };
    await opened(connect(sim.url, creds));
    expect(sim.loginCount(noiseHex(creds))).toBe(1);
  });

  it('handshakeDelayMs makes concurrent handshakes observable', async () => {
    const slow = await startWaSim({ handshakeDelayMs: 300 });
    try {
      const socks = [pairedCreds(), pairedCreds(), pairedCreds()].map((c) => connect(slow.url, c));
      await slow.waitFor(() => slow.handshakesInFlight() === 3);
      expect(slow.connections().every((c) => c.phase === 'handshake' && c.noiseKey === '')).toBe(true);
      await Promise.all(socks.map(opened));
      expect(slow.handshakesInFlight()).toBe(0);
      expect(slow.maxHandshakesInFlight()).toBe(3);
      slow.resetStats();
      expect(slow.maxHandshakesInFlight()).toBe(0);
    } finally {
      await slow.close();
    }
  });

  it('registers with a QR, pairs, restarts with 515 and logs in with the new creds', async () => {
    const creds = initAuthCreds();
    const key = noiseHex(creds);
    const sock = connect(sim.url, creds);
    const { qr } = await nextUpdate(sock, (u) => !!u.qr);
    expect(qr).toMatch(/^https:\/\/wa\.me\/settings\/linked_devices#/);
    expect(sim.connections()).toContainEqual(
      expect.objectContaining({ noiseKey: key, phase: 'registering', kind: 'registration' }),
    );
    const closed = closedCode(sock);
    const { jid } = await sim.pair(qr!, { phone: '5511988887777' });
    expect(jid).toBe('5511988887777:1@s.whatsapp.net');
    expect(await closed).toBe(515);
    expect(creds.me?.id).toBe(jid);
    expect(creds.me?.lid).toMatch(/:1@lid$/);

    const again = connect(sim.url, creds);
    await opened(again);
    expect(sim.registrationCount(key)).toBe(1);
    expect(sim.loginCount(key)).toBe(1);
    expect(sim.handshakeCount(key)).toBe(2);
    expect(sim.connections()).toContainEqual(expect.objectContaining({ noiseKey: key, jid, phase: 'open' }));
  });

  it('a pairing with a wrong HMAC is rejected by the client', async () => {
    const creds = initAuthCreds();
    const sock = connect(sim.url, creds);
    const { qr } = await nextUpdate(sock, (u) => !!u.qr);
    const closed = closedCode(sock);
    await expect(sim.pair(qr!, { forgeHmac: true })).rejects.toThrow(/closed/);
    expect(await closed).toBe(500);
    expect(creds.me).toBeUndefined();
  });

  it('Baileys rc14 accepts a forged account signature (its Curve.verify ignores the result)', async () => {
    const creds = initAuthCreds();
    const sock = connect(sim.url, creds);
    const { qr } = await nextUpdate(sock, (u) => !!u.qr);
    const closed = closedCode(sock);
    await sim.pair(qr!, { forgeAccountSignature: true });
    expect(await closed).toBe(515);
    expect(creds.me).toBeDefined();
  });

  it('ends with 408 when the QR refs run out', async () => {
    const sock = connect(sim.url, initAuthCreds(), { qrTimeout: 100 });
    let qrs = 0;
    sock.ev.on('connection.update', (u) => {
      if (u.qr) qrs++;
    });
    expect(await closedCode(sock)).toBe(408);
    expect(qrs).toBe(2);
  });

  it.each([
    ['close', 428],
    ['restart-required', 515],
    ['logged-out', 401],
    ['replaced', 440],
  ] as const)('kick %s gives status %i', async (how, code) => {
    const creds = pairedCreds();
    const sock = connect(sim.url, creds);
    await opened(sock);
    const closed = closedCode(sock);
    expect(sim.kick({ noiseKey: noiseHex(creds) }, how)).toBe(1);
    expect(await closed).toBe(code);
    await sim.waitFor(() => !sim.connections().some((c) => c.noiseKey === noiseHex(creds)));
  });

  it('kicks by jid (any device when the jid has no device part)', async () => {
    const sock = connect(sim.url, pairedCreds('5511999990042:3@s.whatsapp.net'));
    await opened(sock);
    expect(sim.kick({ jid: '5511999990042:4@s.whatsapp.net' }, 'close')).toBe(0);
    const closed = closedCode(sock);
    expect(sim.kick({ jid: '5511999990042@s.whatsapp.net' }, 'close')).toBe(1);
    expect(await closed).toBe(428);
  });

  it('revoke kicks the open connection and refuses later logins with 401', async () => {
    const creds = pairedCreds();
    const key = noiseHex(creds);
    const sock = connect(sim.url, creds);
    await opened(sock);
    const closed = closedCode(sock);
    sim.revoke(key);
    expect(await closed).toBe(401);
    const again = connect(sim.url, creds);
    expect(await closedCode(again)).toBe(401);
    expect(sim.loginCount(key)).toBe(2);
  });

  it('refuseConnections makes the client see a close; afterwards it connects', async () => {
    const creds = pairedCreds();
    sim.refuseConnections(60_000);
    const refused = connect(sim.url, creds);
    const code = await closedCode(refused);
    expect(code).toBe(408);
    expect(sim.handshakeCount(noiseHex(creds))).toBe(0);
    sim.refuseConnections(0);
    await opened(connect(sim.url, creds));
  });
});

describe('wa-sim in a child process', () => {
  afterEach(() => {
    for (const sock of sockets.splice(0)) sock.end(undefined);
    WA_CERT_DETAILS.PUBLIC_KEY = originalRootKey;
  });

  it('spawns, serves a bare Baileys login and closes', async () => {
    const proc = await spawnWaSimProcess();
    try {
      trustSim(proc);
      const creds = pairedCreds();
      await opened(connect(proc.url, creds));
      expect(await proc.control.loginCount(noiseHex(creds))).toBe(1);
      expect(await proc.control.connections()).toHaveLength(1);
    } finally {
      await proc.close();
    }
    expect(() => process.kill(proc.pid, 0)).toThrow();
  });
});
