import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createMemoryAuthStore } from '../src/whatsapp/auth-store.js';
import { hardenBaileys } from '../src/whatsapp/baileys-hardening.js';
import { createConnectionLogic, describeDisconnect } from '../src/whatsapp/connection.js';
import { ProxyError } from '../src/whatsapp/proxy.js';
import { inSocketContext, outsideSocketContext } from '../src/whatsapp/socket-timers.js';

/** Shaped like @hapi/boom's errors, which Baileys puts in lastDisconnect. */
class Boom extends Error {
  readonly isBoom = true;
  readonly output: { statusCode: number };
  readonly data: unknown;

  constructor(message: string, { statusCode = 500, data }: { statusCode?: number; data?: unknown } = {}) {
    super(message);
    this.output = { statusCode };
    this.data = data;
  }
}

const wsError = (code: string, statusCode = 408) =>
  new Boom(`WebSocket Error (connect ${code} 127.0.0.1:1)`, {
    statusCode,
    data: Object.assign(new Error(`connect ${code}`), { code }),
  });

describe('createConnectionLogic', () => {
  it('refuses to build connections before Baileys is hardened', () => {
    const deps = {
      authStore: createMemoryAuthStore(),
      logger: pino({ level: 'silent' }),
      waWebSocketUrl: 'ws://x',
    };
    expect(() => createConnectionLogic(deps)).toThrow(/hardenBaileys/);
    hardenBaileys({ logger: deps.logger });
    expect(() => createConnectionLogic(deps)).not.toThrow();
  });
});

describe('describeDisconnect', () => {
  it.each([
    [401, 'Connection Failure'],
    [403, 'Connection Failure'],
    [411, 'Stream Errored (multidevice)'],
    [428, 'Connection Terminated'],
    [440, 'Stream Errored (conflict)'],
    [500, 'Stream Errored (bad-session)'],
    [503, 'Stream Errored (unavailable)'],
    [515, 'Stream Errored (restart required)'],
    [408, 'Connection was lost'],
  ])('keeps Baileys’ status %i', (statusCode, message) => {
    expect(describeDisconnect(new Boom(message, { statusCode }))).toEqual({ code: statusCode, message });
  });

  it('marks an exhausted QR as qr_timeout', () => {
    expect(describeDisconnect(new Boom('QR refs attempts ended', { statusCode: 408 }))).toEqual({
      code: 408,
      message: 'QR refs attempts ended',
      reason: 'qr_timeout',
    });
  });

  it.each(['ECONNREFUSED', 'ENOTFOUND', 'ECONNRESET', 'ETIMEDOUT'])(
    'reports network error %s as 503 unavailable rather than Baileys’ 408',
    (code) => {
      expect(describeDisconnect(wsError(code))).toEqual({
        code: 503,
        message: `cannot reach WhatsApp (${code})`,
        reason: 'unavailable',
      });
      expect(describeDisconnect(Object.assign(new Error('x'), { code }))).toMatchObject({ code: 503 });
    },
  );

  it('reports a failure at the proxy as 503 proxy_error with the proxy’s message', () => {
    const cause = new ProxyError(
      'proxy socks5://127.0.0.1:1080 authentication failed (Socks5 Authentication failed)',
      'auth_failed',
    );
    // Baileys' mapWebSocketError: the ws error becomes `data` of a Boom with the status from getCodeFromWSError.
    const err = new Boom(`WebSocket Error (${cause.message})`, { statusCode: 500, data: cause });
    expect(describeDisconnect(err)).toEqual({ code: 503, message: cause.message, reason: 'proxy_error' });
    expect(describeDisconnect(cause)).toMatchObject({ reason: 'proxy_error' });
  });

  it('keeps an HTTP status the server answered the upgrade with', () => {
    const err = new Boom('WebSocket Error (Unexpected server response: 403)', { statusCode: 403 });
    expect(describeDisconnect(err)).toEqual({ code: 403, message: err.message });
  });

  it.each([
    'noise certificate signature invalid',
    'noise intermediate certificate signature invalid',
    'invalid noise leaf certificate',
    'certification match failed',
  ])('names a certificate failure (%s)', (message) => {
    expect(describeDisconnect(new Boom(message, { statusCode: 400 }))).toEqual({
      code: 400,
      message: `server certificate chain did not verify (${message})`,
      reason: 'certificate_invalid',
    });
  });

  it.each(['Failed to verify account signature', 'Invalid account signature'])(
    'names a rejected pairing (%s)',
    (message) => {
      expect(describeDisconnect(new Boom(message))).toEqual({
        code: 500,
        message: `pairing rejected: ${message}`,
        reason: 'pairing_rejected',
      });
    },
  );

  it('gives errors without a status 500 with reason connection_error, not bad_session', () => {
    expect(describeDisconnect(new TypeError('boom'))).toEqual({
      code: 500,
      message: 'boom',
      reason: 'connection_error',
    });
    expect(describeDisconnect(undefined)).toMatchObject({ code: 500, reason: 'connection_error' });
  });
});

describe('socket context timers', () => {
  it('unrefs every timer made in the socket context: sync, after an await, in callbacks it scheduled', async () => {
    const emitter = new EventEmitter();
    const made: Record<string, NodeJS.Timeout> = {};
    emitter.on('frame', (name: string) => {
      made[name] = setTimeout(() => {}, 60_000);
    });
    await inSocketContext(async () => {
      made.sync = setTimeout(() => {}, 60_000);
      await new Promise((resolve) => setImmediate(resolve));
      made.afterAwait = setInterval(() => {}, 60_000);
      // like a socket's I/O callback: scheduled from inside, so it runs inside
      await new Promise<void>((resolve) =>
        setImmediate(() => {
          emitter.emit('frame', 'callback');
          resolve();
        }),
      );
    });
    emitter.emit('frame', 'outside');
    expect(Object.fromEntries(Object.entries(made).map(([name, t]) => [name, t.hasRef()]))).toEqual({
      sync: false,
      afterAwait: false,
      callback: false,
      outside: true,
    });
    for (const t of Object.values(made)) clearTimeout(t);
  });

  it('leaves timers made outside the context, or explicitly outside it, ref’d', () => {
    const plain = setTimeout(() => {}, 60_000);
    const escaped = inSocketContext(() => outsideSocketContext(() => setTimeout(() => {}, 60_000)));
    expect([plain.hasRef(), escaped.hasRef()]).toEqual([true, true]);
    clearTimeout(plain);
    clearTimeout(escaped);
  });
});
