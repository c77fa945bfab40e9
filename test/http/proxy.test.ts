import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { seedPairedCreds } from '../support/daemon-harness.js';
import { type ApiHarness, startApiHarness } from '../support/http-app.js';
import { startHttpProxy, startSocks5Proxy, type TestProxy, unusedPort } from '../support/proxies.js';

const BASE = '/api/v1/whatsapp';
const SOCKS_PASSWORD = 'api-S0cks:secret;1';
const HTTP_PASSWORD = 'api-Http@secret=2';
const WRONG_PASSWORD = 'api-Wr0ng-secret';
const SECRETS = [SOCKS_PASSWORD, HTTP_PASSWORD, WRONG_PASSWORD, 'TOPSECRET'];

let h: ApiHarness;
let socks: TestProxy;
let http: TestProxy;
const lines: string[] = [];
/** Every response body of this file, checked for passwords at the end. */
const bodies: string[] = [];

beforeAll(async () => {
  const logger = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk, _enc, done) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    }),
  });
  h = await startApiHarness(import.meta.url, { logger });
  socks = await startSocks5Proxy({ password: SOCKS_PASSWORD });
  http = await startHttpProxy({ password: HTTP_PASSWORD });
}, 120_000);

afterAll(async () => {
  await h?.close();
  await socks?.close();
  await http?.close();
}, 120_000);

const call = async (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: unknown, user = 1) => {
  const res = await h.app.inject({
    method,
    url: `${BASE}${url}`,
    headers: h.auth(user),
    payload: payload as never,
  });
  bodies.push(res.body);
  return res;
};

const createSession = async (body: Record<string, unknown> = {}, user = 1) => {
  const res = await call('POST', '/sessions/', { device_name: 'proxied', ...body }, user);
  expect(res.statusCode).toBe(201);
  return res.json() as { id: number; proxy_url: string | null };
};

/** A session with paired creds, started and connected directly. */
const connectedSession = async (phone: string, body: Record<string, unknown> = {}) => {
  const { id } = await createSession(body);
  const key = await seedPairedCreds(h.daemon.authStore, String(id), phone);
  expect((await call('POST', `/sessions/${id}/start/`)).statusCode).toBe(202);
  await h.daemon.supervisor.waitForSession(String(id), (v) => v.status === 'connected');
  return { id, key };
};

const BAD_PROXY_URLS = [
  'ftp://u:TOPSECRET@proxy.example.com:21',
  'socks://proxy.example.com:1080',
  'socks6://proxy.example.com:1080',
  'http//proxy.example.com:8080',
  'proxy.example.com:8080',
  'http://proxy.example.com',
  'http://u:TOPSECRET@proxy.example.com',
  'http://proxy.example.com:',
  'http://proxy.example.com:0',
  'http://proxy.example.com:65536',
  'http://proxy.example.com:99999',
  'http://proxy.example.com:80a',
  'http://proxy.example.com:8080/path',
  'http://proxy.example.com:8080/?q=1',
  'http://proxy.example.com:8080#frag',
  'http://proxy example.com:8080',
  ' http://proxy.example.com:8080',
  'http://proxy.example.com:8080\n',
  'http://u:TOP%zzSECRET@proxy.example.com:8080',
  'http://:8080',
  'socks5://[::1:1080',
  '',
];

describe('proxy_url validation', () => {
  it.each(BAD_PROXY_URLS)('POST and PATCH refuse %j with 400 naming proxy_url', async (url) => {
    const created = await call('POST', '/sessions/', {
      device_name: 'bad',
      proxy_enabled: true,
      proxy_url: url,
    });
    expect(created.statusCode).toBe(400);
    expect(created.json()).toMatchObject({
      error: { code: 'validation_error', details: [expect.objectContaining({ field: 'body.proxy_url' })] },
    });
    const { id } = await createSession();
    const patched = await call('PATCH', `/sessions/${id}/`, { proxy_enabled: true, proxy_url: url });
    expect(patched.statusCode).toBe(400);
    expect(patched.json()).toMatchObject({ error: { code: 'validation_error' } });
  });

  it('refuses proxy_enabled without a URL', async () => {
    const res = await call('POST', '/sessions/', {
      device_name: 'bad',
      proxy_enabled: true,
      proxy_url: null,
    });
    expect(res.statusCode).toBe(400);
  });

  it('accepts every scheme, with percent-encoded credentials', async () => {
    for (const scheme of ['http', 'https', 'socks4', 'socks4a', 'socks5', 'socks5h']) {
      const s = await createSession({ proxy_url: `${scheme}://us%40er:p%3Ass%2Fw@10.0.0.1:1080` });
      expect(s.proxy_url).toBe(`${scheme}://us%40er:***@10.0.0.1:1080`);
    }
  });
});

describe('PATCH of the proxy', () => {
  it('only stores the change on an idle session', async () => {
    const { id } = await createSession();
    const res = await call('PATCH', `/sessions/${id}/`, { proxy_enabled: true, proxy_url: socks.url() });
    expect(res.json()).toMatchObject({
      status: 'idle',
      proxy_enabled: true,
      proxy_url: expect.stringContaining(':***@'),
    });
    const row = await h.daemon.sessions.get(id);
    expect(row?.proxyUrl).toBe(socks.url());
    expect(h.daemon.supervisor.view(String(id))?.status ?? 'idle').toBe('idle');
  });

  it('moves a connected session from direct to SOCKS5 to HTTP and back at once, using no attempt', async () => {
    const { id, key } = await connectedSession('5511900000201');
    const sources = () => h.sim.handshakeSources(key);
    expect(sources()).toEqual(['127.0.0.1']);

    const patchTo = async (body: Record<string, unknown>, logins: number) => {
      expect((await call('PATCH', `/sessions/${id}/`, body)).statusCode).toBe(200);
      await h.sim.waitFor(() => h.sim.loginCount(key) === logins, 10_000);
      await h.daemon.supervisor.waitForSession(String(id), (v) => v.status === 'connected');
      return (await call('GET', `/sessions/${id}/`)).json();
    };
    const viaSocks = await patchTo({ proxy_enabled: true, proxy_url: socks.url() }, 2);
    expect(viaSocks).toMatchObject({ status: 'connected', attempt: 0, last_error: null });
    const viaHttp = await patchTo({ proxy_url: http.url() }, 3);
    expect(viaHttp).toMatchObject({ status: 'connected', attempt: 0, last_error: null });
    await patchTo({ proxy_enabled: false }, 4);
    expect(sources()).toEqual(['127.0.0.1', socks.sourceAddress, http.sourceAddress, '127.0.0.1']);

    const events = (await call('GET', `/sessions/${id}/events/?page_size=100`)).json() as {
      items: { to: string; attempt: number }[];
    };
    expect(events.items.some((e) => e.to === 'backoff' || e.attempt > 0)).toBe(false);
  });

  it('a proxy with the wrong password: backoff, then failed(proxy_error) and no direct connection', async () => {
    const { id } = await createSession({
      proxy_enabled: true,
      proxy_url: socks.url({ password: WRONG_PASSWORD }),
    });
    const key = await seedPairedCreds(h.daemon.authStore, String(id), '5511900000202');
    await call('POST', `/sessions/${id}/start/`);
    await h.daemon.supervisor.waitForSession(String(id), (v) => v.status === 'failed', 10_000);
    const session = (await call('GET', `/sessions/${id}/`)).json();
    expect(session).toMatchObject({
      status: 'failed',
      failure_reason: 'proxy_error',
      last_error: {
        code: 503,
        reason: 'proxy_error',
        message: expect.stringMatching(/authentication failed/),
      },
    });
    expect(h.sim.handshakeCount(key)).toBe(0);
  });
});

describe('POST /sessions/{id}/proxy/check/', () => {
  it('opens a tunnel through a working proxy to the WhatsApp host', async () => {
    for (const proxy of [socks, http]) {
      const { id } = await createSession({ proxy_url: proxy.url() });
      const before = proxy.relays();
      const res = await call('POST', `/sessions/${id}/proxy/check/`);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ ok: true, latency_ms: expect.any(Number) });
      expect(proxy.relays()).toBe(before + 1);
      expect(proxy.targets().at(-1)).toBe(`127.0.0.1:${new URL(h.sim.url).port}`);
    }
  });

  it('says what went wrong at a broken proxy', async () => {
    const wrong = await createSession({ proxy_url: http.url({ password: WRONG_PASSWORD }) });
    expect((await call('POST', `/sessions/${wrong.id}/proxy/check/`)).json()).toEqual({
      ok: false,
      latency_ms: expect.any(Number),
      error: expect.stringMatching(/authentication failed \(HTTP 407/),
    });
    const down = await createSession({
      proxy_url: `socks5://u:${WRONG_PASSWORD}@127.0.0.1:${await unusedPort()}`,
    });
    expect((await call('POST', `/sessions/${down.id}/proxy/check/`)).json()).toMatchObject({
      ok: false,
      error: expect.stringMatching(/refused the connection/),
    });
  });

  it('answers 409 without a proxy_url and 404 for another user’s session', async () => {
    const { id } = await createSession();
    expect((await call('POST', `/sessions/${id}/proxy/check/`)).json()).toMatchObject({
      error: { code: 'no_proxy' },
    });
    const theirs = await createSession({ proxy_url: socks.url() }, 2);
    expect((await call('POST', `/sessions/${theirs.id}/proxy/check/`, undefined, 1)).statusCode).toBe(404);
    const anonymous = await h.app.inject({
      method: 'POST',
      url: `${BASE}/sessions/${theirs.id}/proxy/check/`,
    });
    expect(anonymous.statusCode).toBe(401);
  });
});

describe('redaction', () => {
  it('no response and no log line holds a proxy password', async () => {
    // Lists and the summary too, with every session of this file in them.
    await call('GET', '/sessions/?page_size=500');
    await call('GET', '/sessions/status/');
    expect(lines.length).toBeGreaterThan(0);
    for (const secret of SECRETS) {
      for (const form of new Set([secret, encodeURIComponent(secret)])) {
        expect(bodies.filter((b) => b.includes(form))).toEqual([]);
        expect(lines.filter((l) => l.includes(form))).toEqual([]);
      }
    }
  });
});
