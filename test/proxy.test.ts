import { type AddressInfo, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkProxyRoute,
  createProxyAgent,
  isProxyError,
  parseProxyUrl,
  proxyUrlProblem,
  webSocketTarget,
} from '../src/whatsapp/proxy.js';
import {
  startHttpProxy,
  startSilentServer,
  startSocks5Proxy,
  type TestProxy,
  unusedPort,
} from './support/proxies.js';

describe('parseProxyUrl', () => {
  it.each([
    ['http://proxy.example.com:8080', { scheme: 'http', host: 'proxy.example.com', port: 8080 }],
    ['HTTPS://p:443/', { scheme: 'https', host: 'p', port: 443 }],
    ['socks4://10.0.0.1:1080', { scheme: 'socks4', host: '10.0.0.1', port: 1080 }],
    ['socks4a://user@h:1', { scheme: 'socks4a', host: 'h', port: 1, username: 'user' }],
    ['socks5://[::1]:65535', { scheme: 'socks5', host: '::1', port: 65535 }],
    [
      'socks5h://u%40x:p%3Aw%2Fd@h:1080',
      { scheme: 'socks5h', host: 'h', port: 1080, username: 'u@x', password: 'p:w/d' },
    ],
    ['http://u:pa:ss@h:1', { username: 'u', password: 'pa:ss' }],
  ])('accepts %s', (url, expected) => {
    const parsed = parseProxyUrl(url);
    expect(parsed).toHaveProperty('endpoint');
    expect((parsed as { endpoint: unknown }).endpoint).toMatchObject(expected);
  });

  it.each([
    ['ftp://h:21', /scheme must be one of/],
    ['http://h', /scheme:\/\/\[user/],
    ['http://h:0', /port must be from 1 to 65535/],
    ['http://h:65536', /port must be from 1 to 65535/],
    ['http://h:80/path', /no path or query/],
    ['http://h:80?x=1', /no path or query/],
    ['http://h :80', /whitespace/],
    ['http://u:%zz@h:80', /percent-encoding/],
  ])('refuses %s', (url, problem) => {
    expect(proxyUrlProblem(url)).toMatch(problem);
  });

  it('never echoes the password in a problem', () => {
    expect(proxyUrlProblem('ftp://u:TOPSECRET@h:21')).not.toContain('TOPSECRET');
    expect(proxyUrlProblem('http://u:TOPSECRET@h')).not.toContain('TOPSECRET');
  });
});

describe('webSocketTarget', () => {
  it('takes the port from the URL or its scheme', () => {
    expect(webSocketTarget('wss://web.whatsapp.com/ws/chat')).toEqual({
      host: 'web.whatsapp.com',
      port: 443,
    });
    expect(webSocketTarget('ws://127.0.0.1:5000/ws/chat')).toEqual({ host: '127.0.0.1', port: 5000 });
  });
});

describe('checkProxyRoute and the proxy error shapes', () => {
  let target: Server;
  let targetPort: number;
  let accepted: string[];
  let socks: TestProxy;
  let http: TestProxy;
  const to = () => ({ host: '127.0.0.1', port: targetPort });

  beforeAll(async () => {
    accepted = [];
    target = createServer((s) => {
      accepted.push(s.remoteAddress ?? '');
      s.on('error', () => {});
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    targetPort = (target.address() as AddressInfo).port;
    socks = await startSocks5Proxy({ hosts: { 'only-the-proxy-knows': '127.0.0.1' } });
    http = await startHttpProxy();
  });
  afterAll(async () => {
    await socks.close();
    await http.close();
    await new Promise((r) => target.close(r));
  });

  it('tunnels through SOCKS5 and HTTP CONNECT', async () => {
    const viaSocks = await checkProxyRoute(socks.url(), to());
    const viaHttp = await checkProxyRoute(http.url(), to());
    expect(viaSocks).toMatchObject({ ok: true });
    expect(viaHttp).toMatchObject({ ok: true });
    expect(viaSocks.latencyMs).toBeGreaterThanOrEqual(0);
    expect(socks.relays()).toBeGreaterThanOrEqual(1);
    expect(http.relays()).toBeGreaterThanOrEqual(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(accepted).toEqual(expect.arrayContaining(['127.0.0.3', '127.0.0.2']));
  });

  it('resolves host names at the proxy with socks5h, locally with socks5', async () => {
    const name = { host: 'only-the-proxy-knows', port: targetPort };
    expect(await checkProxyRoute(socks.url({ scheme: 'socks5h' }), name)).toMatchObject({ ok: true });
    expect(socks.targets()).toContain(`only-the-proxy-knows:${targetPort}`);
    const local = await checkProxyRoute(socks.url({ scheme: 'socks5' }), name);
    expect(local.ok).toBe(false);
    expect(local.error).toMatch(/does not resolve|failed/);
  });

  it('names authentication for a wrong SOCKS5 password', async () => {
    const result = await checkProxyRoute(socks.url({ password: 'WRONGPASS' }), to());
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/^proxy socks5:\/\/127\.0\.0\.1:\d+ authentication failed/);
    expect(result.error).not.toContain('WRONGPASS');
  });

  it('says 407 for a wrong HTTP proxy password', async () => {
    const result = await checkProxyRoute(http.url({ password: 'WRONGPASS' }), to());
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/authentication failed \(HTTP 407/);
    expect(result.error).not.toContain('WRONGPASS');
  });

  it('says refused when nothing listens at the proxy', async () => {
    const port = await unusedPort();
    for (const scheme of ['socks5', 'http']) {
      const result = await checkProxyRoute(`${scheme}://u:pw@127.0.0.1:${port}`, to());
      expect(result).toMatchObject({
        ok: false,
        error: expect.stringMatching(/refused the connection \(ECONNREFUSED\)/),
      });
    }
  });

  it('gives up on a proxy that never answers', async () => {
    const silent = await startSilentServer();
    try {
      for (const scheme of ['socks5', 'http']) {
        const result = await checkProxyRoute(`${scheme}://u:pw@127.0.0.1:${silent.port}`, to(), {
          timeoutMs: 300,
        });
        expect(result.ok).toBe(false);
        expect(result.error).toMatch(/did not (open a tunnel|answer) /);
      }
    } finally {
      await silent.close();
    }
  });

  it('reports a target the proxy cannot reach', async () => {
    const closed = { host: '127.0.0.1', port: await unusedPort() };
    expect((await checkProxyRoute(socks.url(), closed)).error).toMatch(/could not reach the target/);
    expect((await checkProxyRoute(http.url(), closed)).error).toMatch(/refused the tunnel \(HTTP 500/);
  });

  it('refuses to build an agent from an invalid URL', () => {
    let thrown: unknown;
    try {
      createProxyAgent('ftp://u:secret@h:21');
    } catch (err) {
      thrown = err;
    }
    expect(isProxyError(thrown)).toBe(true);
    expect(String((thrown as Error).message)).not.toContain('secret');
  });
});
