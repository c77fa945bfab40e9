import { EventEmitter } from 'node:events';
import type { ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { SocksProxyAgent } from 'socks-proxy-agent';

export const PROXY_SCHEMES = ['http', 'https', 'socks4', 'socks4a', 'socks5', 'socks5h'] as const;
export type ProxyScheme = (typeof PROXY_SCHEMES)[number];

/** A parsed proxy URL; `username` and `password` are percent-decoded. */
export interface ProxyEndpoint {
  scheme: ProxyScheme;
  /** Without the brackets of an IPv6 literal. */
  host: string;
  port: number;
  username?: string;
  password?: string;
}

// scheme://[user[:password]@]host:port[/] — no path, query or fragment; the port is required.
const PROXY_URL = new RegExp(
  `^(${PROXY_SCHEMES.join('|')})://(?:([^:@/\\s]+)(?::([^@/\\s]*))?@)?(\\[[0-9a-fA-F:.]+\\]|[^:@/?#\\[\\]\\s]+):(\\d{1,5})/?$`,
  'i',
);

/**
 * Parses a proxy URL, or says why it is not one. The problem never echoes the URL: it may hold a
 * password.
 */
export function parseProxyUrl(url: string): { endpoint: ProxyEndpoint } | { problem: string } {
  if (/\s/.test(url)) return { problem: 'must not contain whitespace' };
  const m = PROXY_URL.exec(url);
  if (!m) {
    const scheme = /^([a-z0-9+.-]+):/i.exec(url)?.[1]?.toLowerCase();
    if (scheme && !(PROXY_SCHEMES as readonly string[]).includes(scheme)) {
      return { problem: `scheme must be one of ${PROXY_SCHEMES.join(', ')}` };
    }
    return { problem: 'must be scheme://[user[:password]@]host:port with no path or query' };
  }
  const [, scheme, user, password, host, portText] = m;
  const port = Number(portText);
  if (port < 1 || port > 65535) return { problem: 'port must be from 1 to 65535' };
  if (!URL.canParse(url)) return { problem: 'is not a valid URL' };
  let username: string | undefined;
  let secret: string | undefined;
  try {
    username = user === undefined ? undefined : decodeURIComponent(user);
    secret = password === undefined ? undefined : decodeURIComponent(password);
  } catch {
    return { problem: 'user and password must be valid percent-encoding' };
  }
  return {
    endpoint: {
      scheme: scheme.toLowerCase() as ProxyScheme,
      host: host.replace(/^\[|\]$/g, ''),
      port,
      ...(username !== undefined ? { username } : {}),
      ...(secret !== undefined ? { password: secret } : {}),
    },
  };
}

/** Why `url` is not an acceptable proxy URL, or null when it is. Never echoes the URL. */
export function proxyUrlProblem(url: string): string | null {
  const parsed = parseProxyUrl(url);
  return 'problem' in parsed ? parsed.problem : null;
}

/** `scheme://host:port`: how a proxy is named in logs and error messages, without its credentials. */
export function proxyLabel(endpoint: ProxyEndpoint): string {
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  return `${endpoint.scheme}://${host}:${endpoint.port}`;
}

/**
 * A failure on the way through a proxy (it refused, was unreachable, rejected the credentials,
 * did not answer, or could not reach the target). Carries no credentials and no cause object:
 * `socks` keeps the proxy settings, password included, on its own errors.
 */
export class ProxyError extends Error {
  readonly code = 'ERR_PROXY';
  constructor(
    message: string,
    /** What went wrong, as a short word: `refused`, `unreachable`, `auth_failed`, `timeout`, `rejected`, `invalid`. */
    readonly problem: string,
  ) {
    super(message);
    this.name = 'ProxyError';
  }
}

/** True for a `ProxyError`, also one from another copy of this module. */
export function isProxyError(value: unknown): value is ProxyError {
  return typeof value === 'object' && value !== null && (value as { code?: unknown }).code === 'ERR_PROXY';
}

export interface ProxyAgentOptions {
  /** How long the proxy may take to open the tunnel (connect, authenticate, reach the target). Default 20 s. */
  timeoutMs?: number;
}

/** An `http.Agent` that tunnels through the proxy; every failure in the proxy phase is a `ProxyError`. */
export type ProxyAgent = SocksProxyAgent | HttpsProxyAgent<string>;

type ConnectOptions = Parameters<SocksProxyAgent['connect']>[1];

/**
 * The agent for a proxy URL: `socks-proxy-agent` for socks4/4a/5/5h (4a and 5h resolve DNS at the
 * proxy), `https-proxy-agent` (HTTP CONNECT, TLS to the proxy for `https`) for http and https.
 * One agent serves the WebSocket (`agent`) and media (`fetchAgent`) of one socket.
 * @throws ProxyError if the URL is not a valid proxy URL.
 */
export function createProxyAgent(url: string, options: ProxyAgentOptions = {}): ProxyAgent {
  const parsed = parseProxyUrl(url);
  if ('problem' in parsed) throw new ProxyError(`proxy URL ${parsed.problem}`, 'invalid');
  const { endpoint } = parsed;
  const timeoutMs = options.timeoutMs ?? 20_000;
  const target = new URL(proxyLabel(endpoint));
  // Re-encoded from the decoded parts: both agents percent-decode username and password.
  if (endpoint.username !== undefined) target.username = encodeURIComponent(endpoint.username);
  if (endpoint.password !== undefined) target.password = encodeURIComponent(endpoint.password);
  const label = proxyLabel(endpoint);
  return endpoint.scheme.startsWith('socks')
    ? new GuardedSocksAgent(target, label, timeoutMs)
    : new GuardedHttpsAgent(target, label, timeoutMs);
}

class GuardedSocksAgent extends SocksProxyAgent {
  constructor(
    url: URL,
    private readonly label: string,
    private readonly timeoutMs: number,
  ) {
    // `socks` aborts a handshake that takes longer than this; the idle timer it leaves is cleared below.
    super(url, { timeout: timeoutMs });
  }

  override async connect(req: ClientRequest, opts: ConnectOptions): Promise<Socket> {
    const socket = await guard(super.connect(req, opts), this.label, this.timeoutMs);
    // socks-proxy-agent applies its handshake timeout to the open tunnel too: it would cut an idle socket.
    socket.setTimeout(0);
    return socket;
  }
}

class GuardedHttpsAgent extends HttpsProxyAgent<string> {
  constructor(
    url: URL,
    private readonly label: string,
    private readonly timeoutMs: number,
  ) {
    super(url);
  }

  override async connect(req: ClientRequest, opts: ConnectOptions): Promise<Socket> {
    let answer: { statusCode: number; statusText: string } | undefined;
    req.once('proxyConnect', (connect: { statusCode: number; statusText: string }) => {
      answer = connect;
    });
    // A signal per tunnel, so that a timeout tears down the connection to a proxy that never answers.
    // https-proxy-agent reads connectOpts synchronously, before its first await.
    const abort = new AbortController();
    const shared = this.connectOpts;
    this.connectOpts = { ...shared, signal: abort.signal };
    let pending: Promise<Socket>;
    try {
      pending = super.connect(req, opts);
    } finally {
      this.connectOpts = shared;
    }
    const socket = await guard(pending, this.label, this.timeoutMs, () => abort.abort());
    if (answer && answer.statusCode !== 200) {
      // https-proxy-agent hands back a socket that replays the answer to http; ws would wait on it.
      socket.destroy();
      throw httpStatusError(this.label, answer.statusCode, answer.statusText);
    }
    return socket;
  }
}

async function guard<T>(
  work: Promise<T>,
  label: string,
  timeoutMs: number,
  onTimeout?: () => void,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new ProxyError(`proxy ${label} did not open a tunnel within ${timeoutMs} ms`, 'timeout'));
    }, timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } catch (err) {
    throw toProxyError(err, label);
  } finally {
    clearTimeout(timer);
  }
}

function httpStatusError(label: string, status: number, text: string): ProxyError {
  const answer = `${status}${text ? ` ${text}` : ''}`;
  if (status === 407) {
    return new ProxyError(`proxy ${label} authentication failed (HTTP ${answer})`, 'auth_failed');
  }
  return new ProxyError(`proxy ${label} refused the tunnel (HTTP ${answer})`, 'rejected');
}

const NETWORK_PROBLEMS: Record<string, [problem: string, words: string]> = {
  ECONNREFUSED: ['refused', 'refused the connection'],
  ECONNRESET: ['refused', 'reset the connection'],
  EPIPE: ['refused', 'closed the connection'],
  ETIMEDOUT: ['unreachable', 'is unreachable: timed out'],
  EHOSTUNREACH: ['unreachable', 'is unreachable: no route to host'],
  ENETUNREACH: ['unreachable', 'is unreachable: network unreachable'],
  ENOTFOUND: ['unreachable', 'is unreachable: its host name does not resolve'],
  EAI_AGAIN: ['unreachable', 'is unreachable: its host name does not resolve'],
};

/**
 * Names what happened at the proxy, from the error shapes the two agents produce:
 * - network errors carry an errno `code` (https-proxy-agent) or only name it in the message
 *   (`socks` rethrows `connect ECONNREFUSED 127.0.0.1:1080` as a SocksClientError without code);
 * - `socks`: "Socks5 Authentication failed", "Received invalid Socks5 initial handshake (no
 *   accepted authentication type)", "Socks5 proxy rejected connection - HostUnreachable",
 *   "Socks4 Proxy rejected connection - Rejected", "Proxy connection timed out", "Socket closed";
 * - https-proxy-agent: "Proxy connection ended before receiving CONNECT response"; a non-200
 *   answer to CONNECT is turned into an error in `GuardedHttpsAgent` (407 is authentication).
 */
function toProxyError(err: unknown, label: string): ProxyError {
  if (isProxyError(err)) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  const errno =
    (typeof e.code === 'string' && NETWORK_PROBLEMS[e.code] ? e.code : undefined) ??
    Object.keys(NETWORK_PROBLEMS).find((code) => message.includes(code));
  if (errno) {
    const [problem, words] = NETWORK_PROBLEMS[errno];
    return new ProxyError(`proxy ${label} ${words} (${errno})`, problem);
  }
  if (/authentication failed/i.test(message)) {
    return new ProxyError(`proxy ${label} authentication failed (${message})`, 'auth_failed');
  }
  if (/no accepted authentication type/i.test(message)) {
    return new ProxyError(
      `proxy ${label} authentication failed: it accepts none of the offered methods (${message})`,
      'auth_failed',
    );
  }
  if (/timed out/i.test(message)) {
    return new ProxyError(`proxy ${label} did not answer in time (${message})`, 'timeout');
  }
  if (/rejected connection/i.test(message)) {
    return new ProxyError(`proxy ${label} could not reach the target (${message})`, 'rejected');
  }
  return new ProxyError(`proxy ${label} failed: ${message}`, 'failed');
}

/** The host and port a `ws://` or `wss://` URL connects to. */
export function webSocketTarget(wsUrl: string): { host: string; port: number } {
  const url = new URL(wsUrl);
  const port = url.port ? Number(url.port) : url.protocol === 'wss:' ? 443 : 80;
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port };
}

export interface ProxyCheckResult {
  ok: boolean;
  latencyMs: number;
  error?: string;
}

/**
 * Opens a TCP tunnel through the proxy to `target`, then closes it: the route a session would
 * take, without any request on it. Never throws; a failure is `{ ok: false, error }`.
 */
export async function checkProxyRoute(
  proxyUrl: string,
  target: { host: string; port: number },
  options: ProxyAgentOptions = {},
): Promise<ProxyCheckResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const agent = createProxyAgent(proxyUrl, options);
    // The agents only announce events on the request (the CONNECT answer among them).
    const request = Object.assign(new EventEmitter(), { destroy() {} }) as unknown as ClientRequest;
    const socket = await agent.connect(request, { ...target, secureEndpoint: false });
    const latencyMs = elapsed();
    socket.destroy();
    return { ok: true, latencyMs };
  } catch (err) {
    return { ok: false, latencyMs: elapsed(), error: toProxyError(err, proxyLabelOf(proxyUrl)).message };
  }
}

function proxyLabelOf(url: string): string {
  const parsed = parseProxyUrl(url);
  return 'problem' in parsed ? '(invalid URL)' : proxyLabel(parsed.endpoint);
}

/** Checks a proxy URL's route to the WhatsApp WebSocket host. */
export type ProxyChecker = (proxyUrl: string) => Promise<ProxyCheckResult>;

/** A `ProxyChecker` towards the host and port of `waWebSocketUrl` (`WA_WS_URL`). */
export function createProxyChecker(options: { waWebSocketUrl: string; timeoutMs?: number }): ProxyChecker {
  const target = webSocketTarget(options.waWebSocketUrl);
  return (proxyUrl) => checkProxyRoute(proxyUrl, target, { timeoutMs: options.timeoutMs ?? 10_000 });
}
