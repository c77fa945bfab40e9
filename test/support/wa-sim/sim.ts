import { createHash, randomBytes, randomInt } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  type BinaryNode,
  Curve,
  decodeBinaryNode,
  encodeBinaryNode,
  getBinaryNodeChild,
  hmacSign,
  NOISE_WA_HEADER,
  proto,
  WA_ADV_ACCOUNT_SIG_PREFIX,
} from '@whiskeysockets/baileys';
import { type Logger, pino } from 'pino';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { makeServerIdentity, ServerHandshake, type TransportCipher } from './noise.js';

export type KickMode = 'close' | 'restart-required' | 'logged-out' | 'replaced';
export type ConnectionPhase = 'handshake' | 'registering' | 'open';
export type ConnectionKind = 'login' | 'registration';

export interface ConnectionInfo {
  id: string;
  /** hex of the client's static noise public key; '' until clientFinish */
  noiseKey: string;
  jid?: string;
  phase: ConnectionPhase;
  kind?: ConnectionKind;
}

export interface KickTarget {
  id?: string;
  noiseKey?: string;
  jid?: string;
}

export interface WaSimOptions {
  host?: string;
  port?: number;
  /** refs per pair-device (each ref is one QR) */
  qrRefs?: number;
  /** delay before answering the client hello */
  handshakeDelayMs?: number;
  logger?: Logger;
}

export interface PairOptions {
  phone?: string;
  /** sign with a key that is not the account key (Baileys rc14 does not notice: its Curve.verify is always true) */
  forgeAccountSignature?: boolean;
  /** HMAC the identity with a wrong ADV secret: Baileys rejects the pairing and closes (500) */
  forgeHmac?: boolean;
}

export interface WaSim {
  url: string;
  rootPublicKeyHex: string;
  connections(): ConnectionInfo[];
  kick(target: KickTarget, how: KickMode): number;
  refuseConnections(ms: number): void;
  handshakeCount(noiseKeyHex: string): number;
  /** Where each handshake of that noise key came from: the TCP peer's address, in order. */
  handshakeSources(noiseKeyHex: string): string[];
  loginCount(noiseKeyHex: string): number;
  registrationCount(noiseKeyHex: string): number;
  handshakesInFlight(): number;
  maxHandshakesInFlight(): number;
  resetStats(): void;
  revoke(noiseKeyHex: string): void;
  pair(qr: string, opts?: PairOptions): Promise<{ jid: string }>;
  waitFor(predicate: () => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const SERVER = 's.whatsapp.net';

interface Waiter {
  resolve(node: BinaryNode): void;
  reject(err: Error): void;
}

interface Conn {
  id: string;
  remoteAddress: string;
  ws: WebSocket;
  log: Logger;
  phase: ConnectionPhase;
  kind?: ConnectionKind;
  noiseKey: string;
  jid?: string;
  inFlight: boolean;
  closed: boolean;
  handshake: ServerHandshake;
  helloSeen: boolean;
  transport?: TransportCipher;
  inBytes: Buffer;
  introSeen: boolean;
  queue: Promise<void>;
  timers: Set<NodeJS.Timeout>;
  waiters: Map<string, Waiter>;
  identityKey?: Buffer;
  refs: string[];
}

const frame = (data: Uint8Array): Buffer => {
  const out = Buffer.alloc(3 + data.length);
  out.writeUIntBE(data.length, 0, 3);
  out.set(data, 3);
  return out;
};

const bump = (map: Map<string, number>, key: string): void => {
  map.set(key, (map.get(key) ?? 0) + 1);
};

const lidUserFor = (phone: string): string => {
  const n = BigInt(`0x${createHash('sha256').update(phone).digest('hex').slice(0, 12)}`);
  return (100_000_000_000_000n + (n % 100_000_000_000_000n)).toString();
};

const makeJid = (user: string, device: number, server: string): string =>
  device ? `${user}:${device}@${server}` : `${user}@${server}`;

export async function startWaSim(opts: WaSimOptions = {}): Promise<WaSim> {
  const log = opts.logger ?? pino({ level: 'silent' });
  const qrRefs = opts.qrRefs ?? 6;
  const handshakeDelayMs = opts.handshakeDelayMs ?? 0;
  const identity = makeServerIdentity();

  const conns = new Map<string, Conn>();
  const handshakes = new Map<string, number>();
  const handshakeSources = new Map<string, string[]>();
  const logins = new Map<string, number>();
  const registrations = new Map<string, number>();
  const revoked = new Set<string>();
  const accountKeys = new Map<string, ReturnType<typeof Curve.generateKeyPair>>();
  const lastDevice = new Map<string, number>();
  let inFlight = 0;
  let maxInFlight = 0;
  let refuseUntil = 0;
  let seq = 0;
  let phoneSeq = 0;
  let closing = false;

  const nextId = (): string => `sim-${++seq}`;

  const settle = (conn: Conn): void => {
    if (conn.inFlight) {
      conn.inFlight = false;
      inFlight--;
    }
  };

  const send = (conn: Conn, node: BinaryNode): void => {
    if (conn.closed || !conn.transport || conn.ws.readyState !== WebSocket.OPEN) return;
    conn.ws.send(frame(conn.transport.encrypt(encodeBinaryNode(node))));
  };

  /** sends a last node, then closes gracefully so the client reads it first */
  const finish = (conn: Conn, node?: BinaryNode): void => {
    if (node) send(conn, node);
    if (conn.ws.readyState === WebSocket.OPEN) conn.ws.close(1000);
    else conn.ws.terminate();
  };

  const request = (conn: Conn, node: BinaryNode): Promise<BinaryNode> =>
    new Promise((resolve, reject) => {
      conn.waiters.set(node.attrs.id, { resolve, reject });
      send(conn, node);
    });

  const onClosed = (conn: Conn): void => {
    if (conn.closed) return;
    conn.closed = true;
    settle(conn);
    for (const t of conn.timers) clearTimeout(t);
    conn.timers.clear();
    for (const w of conn.waiters.values()) w.reject(new Error(`connection ${conn.id} closed`));
    conn.waiters.clear();
    conns.delete(conn.id);
    conn.log.debug('closed');
  };

  const iqResult = (node: BinaryNode, content?: BinaryNode[]): BinaryNode => ({
    tag: 'iq',
    attrs: { id: node.attrs.id, type: 'result', from: SERVER },
    content,
  });

  const answerIq = (node: BinaryNode): BinaryNode => {
    const child = Array.isArray(node.content) ? node.content[0]?.tag : undefined;
    switch (node.attrs.xmlns) {
      case 'encrypt':
        if (child === 'count') return iqResult(node, [{ tag: 'count', attrs: { value: '100' } }]);
        if (child === 'digest') return iqResult(node, [{ tag: 'digest', attrs: {} }]);
        return iqResult(node);
      case 'abt':
        return iqResult(node, [{ tag: 'props', attrs: { protocol: '1' } }]);
      case 'blocklist':
        return iqResult(node, [{ tag: 'list', attrs: {} }]);
      case 'privacy':
        return iqResult(node, [{ tag: 'privacy', attrs: {} }]);
      default:
        return iqResult(node);
    }
  };

  const onNode = (conn: Conn, node: BinaryNode): void => {
    conn.log.trace({ tag: node.tag, attrs: node.attrs }, 'recv node');
    if (node.tag !== 'iq') return;
    const { type, id, xmlns } = node.attrs;
    if (type === 'result' || type === 'error') {
      const waiter = conn.waiters.get(id);
      conn.waiters.delete(id);
      waiter?.resolve(node);
      return;
    }
    send(conn, answerIq(node));
    // the passive 'active' iq is the client asking for its offline queue: report it empty
    if (xmlns === 'passive' && conn.phase === 'open') {
      send(conn, {
        tag: 'ib',
        attrs: { from: SERVER },
        content: [{ tag: 'offline', attrs: { count: '0' } }],
      });
    }
  };

  const onLogin = (conn: Conn, payload: proto.ClientPayload): void => {
    const user = String(payload.username);
    conn.kind = 'login';
    conn.jid = makeJid(user, payload.device ?? 0, SERVER);
    bump(logins, conn.noiseKey);
    setImmediate(() => {
      if (conn.closed) return;
      if (revoked.has(conn.noiseKey)) {
        settle(conn);
        finish(conn, { tag: 'failure', attrs: { reason: '401', location: 'sim' } });
        return;
      }
      conn.phase = 'open';
      settle(conn);
      send(conn, {
        tag: 'success',
        attrs: {
          t: String(Math.floor(Date.now() / 1000)),
          location: 'sim',
          lid: makeJid(lidUserFor(user), payload.device ?? 0, 'lid'),
        },
      });
    });
  };

  const onRegistration = (conn: Conn, payload: proto.ClientPayload): void => {
    conn.kind = 'registration';
    conn.phase = 'registering';
    conn.identityKey = Buffer.from(payload.devicePairingData?.eIdent ?? []);
    conn.refs = Array.from({ length: qrRefs }, () => `2@${randomBytes(24).toString('base64')}`);
    bump(registrations, conn.noiseKey);
    setImmediate(() => {
      if (conn.closed) return;
      settle(conn);
      send(conn, {
        tag: 'iq',
        attrs: { from: SERVER, type: 'set', id: randomBytes(8).toString('hex') },
        content: [
          {
            tag: 'pair-device',
            attrs: {},
            content: conn.refs.map((ref) => ({ tag: 'ref', attrs: {}, content: Buffer.from(ref) })),
          },
        ],
      });
    });
  };

  const onHandshakeFrame = (conn: Conn, data: Buffer): void => {
    const msg = proto.HandshakeMessage.decode(data);
    if (!conn.helloSeen) {
      const ephemeral = msg.clientHello?.ephemeral;
      if (!ephemeral) throw new Error('expected clientHello');
      conn.helloSeen = true;
      const reply = frame(conn.handshake.serverHello(ephemeral));
      const sendHello = () => {
        if (!conn.closed && conn.ws.readyState === WebSocket.OPEN) conn.ws.send(reply);
      };
      if (handshakeDelayMs > 0) {
        const t = setTimeout(() => {
          conn.timers.delete(t);
          sendHello();
        }, handshakeDelayMs);
        conn.timers.add(t);
      } else {
        sendHello();
      }
      return;
    }
    if (!msg.clientFinish) throw new Error('expected clientFinish');
    const { payload, transport } = conn.handshake.clientFinish(msg.clientFinish);
    conn.transport = transport;
    conn.noiseKey = conn.handshake.clientStatic?.toString('hex') ?? '';
    conn.log = conn.log.child({ noiseKey: conn.noiseKey.slice(0, 12) });
    bump(handshakes, conn.noiseKey);
    handshakeSources.set(conn.noiseKey, [...(handshakeSources.get(conn.noiseKey) ?? []), conn.remoteAddress]);
    if (payload.devicePairingData) onRegistration(conn, payload);
    else onLogin(conn, payload);
  };

  const onFrame = (conn: Conn, data: Buffer): void => {
    if (!conn.transport) {
      onHandshakeFrame(conn, data);
      return;
    }
    // decrypt in arrival order (counters), decode asynchronously but in sequence
    const plain = conn.transport.decrypt(data);
    conn.queue = conn.queue
      .then(async () => {
        const node = await decodeBinaryNode(plain);
        if (!conn.closed) onNode(conn, node);
      })
      .catch((err: unknown) => {
        conn.log.warn({ err }, 'bad node');
        conn.ws.terminate();
      });
  };

  const onData = (conn: Conn, data: Buffer): void => {
    conn.inBytes = conn.inBytes.length ? Buffer.concat([conn.inBytes, data]) : data;
    if (!conn.introSeen) {
      let offset = 0;
      // 'ED' routing prefix: 'E' 'D' 0 1, 3-byte length, routing info
      if (conn.inBytes[0] === 0x45 && conn.inBytes[1] === 0x44) {
        if (conn.inBytes.length < 7) return;
        offset = 7 + conn.inBytes.readUIntBE(4, 3);
      }
      if (conn.inBytes.length < offset + 4) return;
      if (!conn.inBytes.subarray(offset, offset + 4).equals(NOISE_WA_HEADER)) {
        throw new Error('bad intro header');
      }
      conn.inBytes = conn.inBytes.subarray(offset + 4);
      conn.introSeen = true;
    }
    while (conn.inBytes.length >= 3) {
      const size = conn.inBytes.readUIntBE(0, 3);
      if (conn.inBytes.length < size + 3) return;
      const body = conn.inBytes.subarray(3, size + 3);
      conn.inBytes = conn.inBytes.subarray(size + 3);
      onFrame(conn, body);
    }
  };

  const onConnection = (ws: WebSocket, req: IncomingMessage): void => {
    const id = nextId();
    const conn: Conn = {
      id,
      remoteAddress: req.socket.remoteAddress ?? '',
      ws,
      log: log.child({ conn: id }),
      phase: 'handshake',
      noiseKey: '',
      inFlight: true,
      closed: false,
      handshake: new ServerHandshake(identity),
      helloSeen: false,
      inBytes: Buffer.alloc(0),
      introSeen: false,
      queue: Promise.resolve(),
      timers: new Set(),
      waiters: new Map(),
      refs: [],
    };
    conns.set(id, conn);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    ws.on('message', (data: RawData) => {
      try {
        onData(conn, Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer));
      } catch (err) {
        conn.log.warn({ err }, 'protocol error');
        ws.terminate();
      }
    });
    ws.on('error', (err) => conn.log.debug({ err }, 'ws error'));
    ws.on('close', () => onClosed(conn));
  };

  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });
  wss.on('connection', onConnection);
  const http = createServer((_req, res) => {
    res.writeHead(426).end();
  });
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (closing || Date.now() < refuseUntil) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    // large backlog: benchmarks open 1000+ sockets at once
    http.listen({ port: opts.port ?? 0, host: opts.host ?? '127.0.0.1', backlog: 4096 }, () => {
      http.off('error', reject);
      resolve();
    });
  });
  const address = http.address() as AddressInfo;
  const url = `ws://${address.address}:${address.port}/ws/chat`;
  log.info({ url }, 'wa-sim listening');

  const matches = (conn: Conn, t: KickTarget): boolean => {
    if (t.id !== undefined && conn.id !== t.id) return false;
    if (t.noiseKey !== undefined && conn.noiseKey !== t.noiseKey) return false;
    if (t.jid !== undefined) {
      // a jid without ':device' matches every device of that user
      const have = t.jid.includes(':') ? conn.jid : conn.jid?.replace(/:\d+@/, '@');
      if (have !== t.jid) return false;
    }
    return t.id !== undefined || t.noiseKey !== undefined || t.jid !== undefined;
  };

  const kickConn = (conn: Conn, how: KickMode): void => {
    conn.log.debug({ how }, 'kick');
    if (how === 'close' || !conn.transport) {
      conn.ws.terminate();
      return;
    }
    switch (how) {
      case 'restart-required':
        finish(conn, { tag: 'stream:error', attrs: { code: '515' } });
        break;
      case 'logged-out':
        finish(conn, { tag: 'failure', attrs: { reason: '401', location: 'sim' } });
        break;
      case 'replaced':
        finish(conn, {
          tag: 'stream:error',
          attrs: {},
          content: [{ tag: 'conflict', attrs: { type: 'replaced' } }],
        });
        break;
    }
  };

  const nextDevice = (phone: string): number => {
    const device = (lastDevice.get(phone) ?? 0) + 1;
    lastDevice.set(phone, device);
    return device;
  };

  const pair = async (qr: string, pairOpts: PairOptions = {}): Promise<{ jid: string }> => {
    const [ref, noiseB64, identityB64, advB64] = qr.slice(qr.indexOf('#') + 1).split(',');
    if (!ref || !noiseB64 || !identityB64 || !advB64) throw new Error(`malformed QR: ${qr}`);
    const noiseKey = Buffer.from(noiseB64, 'base64').toString('hex');
    const conn = [...conns.values()].find(
      (c) => !c.closed && c.phase === 'registering' && c.noiseKey === noiseKey,
    );
    if (!conn) throw new Error('no registering connection for this QR');
    if (!conn.refs.includes(ref)) throw new Error('QR ref was not issued to this connection');
    const identityPub = Buffer.from(identityB64, 'base64');
    if (conn.identityKey && !conn.identityKey.equals(identityPub))
      throw new Error('QR identity key mismatch');

    const phone = pairOpts.phone ?? `55119${String(++phoneSeq).padStart(8, '0')}`;
    let account = accountKeys.get(phone);
    if (!account) {
      account = Curve.generateKeyPair();
      accountKeys.set(phone, account);
    }
    const device = nextDevice(phone);
    const jid = makeJid(phone, device, SERVER);
    const lid = makeJid(lidUserFor(phone), device, 'lid');

    const details = proto.ADVDeviceIdentity.encode({
      rawId: randomInt(1, 2 ** 31),
      timestamp: Math.floor(Date.now() / 1000),
      keyIndex: device,
    }).finish();
    const signingKey = pairOpts.forgeAccountSignature ? Curve.generateKeyPair().private : account.private;
    const accountSignature = Curve.sign(
      signingKey,
      Buffer.concat([WA_ADV_ACCOUNT_SIG_PREFIX, details, identityPub]),
    );
    const signed = proto.ADVSignedDeviceIdentity.encode({
      details,
      accountSignatureKey: account.public,
      accountSignature,
    }).finish();
    const container = proto.ADVSignedDeviceIdentityHMAC.encode({
      details: signed,
      hmac: hmacSign(signed, pairOpts.forgeHmac ? randomBytes(32) : Buffer.from(advB64, 'base64')),
    }).finish();

    const reply = await request(conn, {
      tag: 'iq',
      attrs: {
        from: SERVER,
        type: 'set',
        id: randomBytes(8).toString('hex'),
        t: String(Math.floor(Date.now() / 1000)),
      },
      content: [
        {
          tag: 'pair-success',
          attrs: {},
          content: [
            { tag: 'device-identity', attrs: { 'key-index': String(device) }, content: container },
            { tag: 'platform', attrs: { name: 'android' } },
            { tag: 'device', attrs: { jid, lid } },
          ],
        },
      ],
    });
    if (!getBinaryNodeChild(reply, 'pair-device-sign'))
      throw new Error('client did not sign the device identity');
    conn.jid = jid;
    // a real server now forces the companion to reconnect and log in
    finish(conn, { tag: 'stream:error', attrs: { code: '515' } });
    return { jid };
  };

  return {
    url,
    rootPublicKeyHex: Buffer.from(identity.root.public).toString('hex'),
    connections: () =>
      [...conns.values()].map(({ id, noiseKey, jid, phase, kind }) => ({ id, noiseKey, jid, phase, kind })),
    kick(target, how) {
      const hits = [...conns.values()].filter((c) => !c.closed && matches(c, target));
      for (const conn of hits) kickConn(conn, how);
      return hits.length;
    },
    refuseConnections(ms) {
      refuseUntil = ms > 0 ? Date.now() + ms : 0;
    },
    handshakeCount: (key) => handshakes.get(key) ?? 0,
    handshakeSources: (key) => [...(handshakeSources.get(key) ?? [])],
    loginCount: (key) => logins.get(key) ?? 0,
    registrationCount: (key) => registrations.get(key) ?? 0,
    handshakesInFlight: () => inFlight,
    maxHandshakesInFlight: () => maxInFlight,
    resetStats() {
      handshakes.clear();
      handshakeSources.clear();
      logins.clear();
      registrations.clear();
      maxInFlight = inFlight;
    },
    revoke(noiseKeyHex) {
      revoked.add(noiseKeyHex);
      for (const conn of conns.values()) {
        if (conn.noiseKey === noiseKeyHex && conn.phase === 'open') kickConn(conn, 'logged-out');
      }
    },
    pair,
    waitFor: (predicate, timeoutMs) => waitFor(predicate, timeoutMs),
    async close() {
      closing = true;
      for (const conn of conns.values()) {
        conn.ws.terminate();
        onClosed(conn);
      }
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** polls predicate every 5 ms */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`waitFor timed out after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
