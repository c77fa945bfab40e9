import makeWASocket, {
  type AuthenticationCreds,
  type ConnectionState,
  initAuthCreds,
  WA_CERT_DETAILS,
} from '@whiskeysockets/baileys';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeMemoryAuthState } from './support/memory-auth.js';
import { startWaSim, type WaSim } from './support/wa-sim/index.js';

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
});
