import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { type Harness, seedPairedCreds, startHarness } from './support/daemon-harness.js';
import {
  startHttpProxy,
  startSilentServer,
  startSocks5Proxy,
  type TestProxy,
  unusedPort,
} from './support/proxies.js';

const SOCKS_PASSWORD = 'S0cks-P@ss:w0rd;';
const HTTP_PASSWORD = 'Http-P@ss:w0rd;';
const WRONG_PASSWORD = 'Wr0ng-P@ss';
const SECRETS = [SOCKS_PASSWORD, HTTP_PASSWORD, WRONG_PASSWORD];

let h: Harness | undefined;
let socks: TestProxy;
let http: TestProxy;
let lines: string[];
/** The proxy URL each session id connects through; absent means direct. */
let proxies: Map<string, string>;

const logger = () =>
  createLogger({
    level: 'trace',
    destination: new Writable({
      write(chunk, _enc, done) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    }),
  });

const start = (options: Parameters<typeof startHarness>[0] = {}) =>
  startHarness({
    delaysMs: [0, 50, 50],
    logger: logger(),
    resolveProxy: async (id) => proxies.get(id) ?? null,
    ...options,
  });

beforeEach(async () => {
  lines = [];
  proxies = new Map();
  socks = await startSocks5Proxy({ password: SOCKS_PASSWORD, hosts: { 'wa-sim.proxy-only': '127.0.0.1' } });
  http = await startHttpProxy({ password: HTTP_PASSWORD });
});

afterEach(async () => {
  await h?.close();
  h = undefined;
  await socks.close();
  await http.close();
  // Every log line of the test, whatever happened: no proxy password, plain or percent-encoded.
  expect(lines.length).toBeGreaterThan(0);
  for (const secret of SECRETS) {
    for (const form of [secret, encodeURIComponent(secret)]) {
      expect(lines.filter((l) => l.includes(form))).toEqual([]);
    }
  }
});

describe('a session routed through a proxy', () => {
  it.each([
    ['socks5', () => socks, () => socks.url()],
    ['socks5h', () => socks, () => socks.url({ scheme: 'socks5h' })],
    ['http', () => http, () => http.url()],
  ])('connects to the simulator through %s', async (scheme, proxy, url) => {
    // With socks5h the WebSocket host is a name only the proxy resolves: a local lookup would fail.
    h = await start(
      scheme === 'socks5h'
        ? { waWebSocketUrl: (sim) => sim.url.replace('127.0.0.1', 'wa-sim.proxy-only') }
        : {},
    );
    const key = await seedPairedCreds(h.authStore, '1', '5511900000101');
    proxies.set('1', url());
    h.supervisor.add('1', { autoReconnect: true, start: true });
    await h.supervisor.waitForSession('1', (v) => v.status === 'connected');

    expect(proxy().relays()).toBe(1);
    expect(h.sim.loginCount(key)).toBe(1);
    expect(h.sim.handshakeSources(key)).toEqual([proxy().sourceAddress]);
    const port = new URL(h.sim.url).port;
    if (scheme === 'socks5h') expect(socks.targets()).toEqual([`wa-sim.proxy-only:${port}`]);
    if (scheme === 'socks5') expect(socks.targets()).toEqual([`127.0.0.1:${port}`]);
    const connecting = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'connecting');
    expect(connecting.proxy).toBe(`${scheme}://127.0.0.1:${proxy().port}`);
  });
});

describe('a proxy that fails', () => {
  const failsWith = async (url: string, message: RegExp, options: Parameters<typeof start>[0] = {}) => {
    h = await start(options);
    const key = await seedPairedCreds(h.authStore, '1', '5511900000102');
    proxies.set('1', url);
    h.supervisor.add('1', { autoReconnect: true, start: true });
    const backoff = await h.supervisor.waitForSession('1', (v) => v.status === 'backoff');
    expect(backoff.lastError).toMatchObject({
      code: 503,
      reason: 'proxy_error',
      message: expect.stringMatching(message),
    });
    const failed = await h.supervisor.waitForSession('1', (v) => v.status === 'failed', 10_000);
    expect(failed).toMatchObject({ failureReason: 'proxy_error', lastError: { reason: 'proxy_error' } });
    expect(failed.lastError?.message).toMatch(message);
    // Never a direct connection: the simulator saw nothing from this session.
    expect(h.sim.handshakeCount(key)).toBe(0);
    expect(h.transitions.filter((t) => t.to === 'backoff').map((t) => t.attempt)).toEqual([1, 2, 3]);
    return failed;
  };

  it('wrong SOCKS5 password: backoff, then failed(proxy_error), naming authentication', async () => {
    await failsWith(
      socks.url({ password: WRONG_PASSWORD }),
      /^proxy socks5:\/\/127\.0\.0\.1:\d+ authentication failed/,
    );
    expect(socks.relays()).toBe(0);
  });

  it('wrong HTTP proxy password: the same, with 407 in the message', async () => {
    await failsWith(http.url({ password: WRONG_PASSWORD }), /authentication failed \(HTTP 407/);
    expect(http.relays()).toBe(0);
    expect(http.targets().length).toBe(4); // the first connect and three retries
  });

  it('refused: nothing listens at the proxy address', async () => {
    const port = await unusedPort();
    await failsWith(
      `socks5://u:${encodeURIComponent(SOCKS_PASSWORD)}@127.0.0.1:${port}`,
      /refused the connection \(ECONNREFUSED\)/,
    );
  });

  it('unreachable: the proxy host does not resolve', async () => {
    await failsWith(`http://u:${encodeURIComponent(HTTP_PASSWORD)}@proxy.invalid:3128`, /is unreachable/);
  });

  it('unresponsive: the proxy accepts and never answers', async () => {
    const silent = await startSilentServer();
    try {
      await failsWith(
        `http://u:${encodeURIComponent(HTTP_PASSWORD)}@127.0.0.1:${silent.port}`,
        /did not open a tunnel/,
        {
          socketConfig: { connectTimeoutMs: 300 },
        },
      );
      expect(silent.accepted()).toBe(4);
    } finally {
      await silent.close();
    }
  });

  it('a stored URL that is not a proxy URL is a proxy_error, not a direct connection', async () => {
    await failsWith(`ftp://u:${encodeURIComponent(SOCKS_PASSWORD)}@h:21`, /^proxy URL scheme must be one of/);
  });

  it('settings that cannot be read: no socket at all', async () => {
    h = await start({ resolveProxy: async () => Promise.reject(new Error('database down')) });
    const key = await seedPairedCreds(h.authStore, '1', '5511900000103');
    h.supervisor.add('1', { autoReconnect: true, start: true });
    const backoff = await h.supervisor.waitForSession('1', (v) => v.status === 'backoff');
    expect(backoff.lastError).toMatchObject({ reason: 'persistence_error' });
    expect(h.sim.handshakeCount(key)).toBe(0);
  });
});

describe('a live proxy change (session.configure)', () => {
  it('moves a connected session from direct to SOCKS5 to HTTP at once, using no attempt', async () => {
    h = await start();
    const key = await seedPairedCreds(h.authStore, '1', '5511900000104');
    h.supervisor.add('1', { autoReconnect: true, start: true });
    await h.supervisor.waitForSession('1', (v) => v.status === 'connected');
    expect(h.sim.handshakeSources(key)).toEqual(['127.0.0.1']);

    const moveTo = async (url: string, logins: number) => {
      proxies.set('1', url);
      h?.supervisor.command('1', { type: 'session.configure', proxyUrl: url });
      await h?.sim.waitFor(() => h?.sim.loginCount(key) === logins);
      return h?.supervisor.waitForSession('1', (v) => v.status === 'connected');
    };
    expect(await moveTo(socks.url(), 2)).toMatchObject({ attempt: 0, lastError: null });
    expect(socks.relays()).toBe(1);
    expect(await moveTo(http.url(), 3)).toMatchObject({ attempt: 0, lastError: null });
    expect(http.relays()).toBe(1);

    expect(h.sim.handshakeSources(key)).toEqual(['127.0.0.1', socks.sourceAddress, http.sourceAddress]);
    expect(h.transitions.some((t) => t.to === 'backoff' || t.attempt > 0)).toBe(false);
  });
});
