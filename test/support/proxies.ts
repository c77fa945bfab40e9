import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createConnection, createServer, type Server, type Socket } from 'node:net';
import { Socks5Server } from '@pondwader/socks5-server';
import { createProxy } from 'proxy';

/** A real proxy on 127.0.0.1 that counts what it relays. */
export interface TestProxy {
  port: number;
  /** `scheme://user:password@127.0.0.1:port`; `password` overrides the right one. */
  url(opts?: { scheme?: string; password?: string; username?: string }): string;
  /** Tunnels opened to a target (authenticated and connected). */
  relays(): number;
  /** Every target asked for, as the client sent it (`host:port`). */
  targets(): string[];
  /** The address its outgoing connections leave from: a target sees them come from here. */
  sourceAddress: string;
  close(): Promise<void>;
}

export interface TestProxyOptions {
  username?: string;
  password?: string;
  /** Host names only this proxy resolves (to IPv4 addresses), e.g. to prove socks5h resolves at the proxy. */
  hosts?: Record<string, string>;
}

/**
 * SOCKS5 with username/password (`@pondwader/socks5-server`). Its relay connections leave from
 * 127.0.0.3, so the simulator can tell them from direct ones (127.0.0.1).
 */
export async function startSocks5Proxy(opts: TestProxyOptions = {}): Promise<TestProxy> {
  const { username = 'alice', password = 'socks-secret', hosts = {} } = opts;
  const sourceAddress = '127.0.0.3';
  let relays = 0;
  const targets: string[] = [];
  const socks = new Socks5Server();
  socks.setAuthHandler((conn) => conn.username === username && conn.password === password);
  socks.setConnectionHandler((conn, sendStatus) => {
    targets.push(`${conn.destAddress}:${conn.destPort}`);
    conn.socket.on('error', () => {});
    const upstream = createConnection({
      host: hosts[conn.destAddress] ?? conn.destAddress,
      port: conn.destPort,
      localAddress: sourceAddress,
      family: 4,
    });
    let opened = false;
    upstream.on('error', () => {
      if (!opened) sendStatus('CONNECTION_REFUSED');
      conn.socket.destroy();
    });
    upstream.on('connect', () => {
      opened = true;
      relays++;
      sendStatus('REQUEST_GRANTED');
      conn.socket.pipe(upstream).pipe(conn.socket);
    });
    conn.socket.on('close', () => upstream.destroy());
  });
  const server = createServer((socket) => socks._handleConnection(socket));
  const port = await listen(server);
  return {
    port,
    sourceAddress,
    url: ({ scheme = 'socks5', password: pw = password, username: user = username } = {}) =>
      `${scheme}://${encodeURIComponent(user)}:${encodeURIComponent(pw)}@127.0.0.1:${port}`,
    relays: () => relays,
    targets: () => [...targets],
    close: () => closeServer(server),
  };
}

/**
 * HTTP CONNECT with basic auth (the `proxy` package); 407 without the right credentials. Its
 * relay connections leave from 127.0.0.2.
 */
export async function startHttpProxy(opts: TestProxyOptions = {}): Promise<TestProxy> {
  const { username = 'bob', password = 'http-secret' } = opts;
  const sourceAddress = '127.0.0.2';
  let relays = 0;
  const targets: string[] = [];
  const server = createProxy(createHttpServer());
  server.localAddress = sourceAddress;
  const expected = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  server.authenticate = (req) => {
    targets.push(req.url ?? '');
    const ok = req.headers['proxy-authorization'] === expected;
    if (ok) relays++;
    return ok;
  };
  const port = await listen(server);
  return {
    port,
    sourceAddress,
    url: ({ scheme = 'http', password: pw = password, username: user = username } = {}) =>
      `${scheme}://${encodeURIComponent(user)}:${encodeURIComponent(pw)}@127.0.0.1:${port}`,
    relays: () => relays,
    targets: () => [...targets],
    close: () => closeServer(server),
  };
}

/** A TCP server that accepts and never answers: a proxy that hangs. */
export async function startSilentServer(): Promise<{
  port: number;
  accepted(): number;
  close(): Promise<void>;
}> {
  let accepted = 0;
  const server = createServer(() => {
    accepted++;
  });
  const port = await listen(server);
  return { port, accepted: () => accepted, close: () => closeServer(server) };
}

/** A loopback port with nothing listening on it (bound, then released). */
export async function unusedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await closeServer(server);
  return port;
}

const sockets = new WeakMap<Server, Set<Socket>>();

async function listen(server: Server): Promise<number> {
  const open = new Set<Socket>();
  sockets.set(server, open);
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

async function closeServer(server: Server): Promise<void> {
  for (const socket of sockets.get(server) ?? []) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
