import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '../machines/reconnect-policy.js';
import { sessionStatus } from '../machines/session-view.js';
import { scriptedSession } from './support/fake-connection.js';

const S = 1000;
const DROP = { type: 'client.closed', code: 428, message: 'Connection Closed' } as const;

/** Opens on the first connect, then every later connect fails with 428. */
const opensOnceThenDrops = (n: number, send: (e: never) => void) =>
  n === 1 ? send({ type: 'client.open' } as never) : send(DROP as never);

function status(s: ReturnType<typeof scriptedSession>) {
  return sessionStatus(s.actor.getSnapshot());
}

describe('session machine: reconnect schedule', () => {
  it('retries at t=0, 30, 90, 210, 450 and 930 s after a drop, then fails with retries_exhausted', () => {
    const s = scriptedSession({ behaviour: opensOnceThenDrops });
    s.actor.send({ type: 'session.start' });
    expect(status(s)).toBe('connected');

    const t0 = s.clock.now();
    s.current.send(DROP);
    expect(status(s)).toBe('backoff');
    s.advance(2000 * S);

    const offsets = s.invocations.slice(1).map((i) => (i.at - t0) / S);
    expect(offsets).toEqual([0, 30, 90, 210, 450, 930]);
    expect(s.invocations.slice(1).map((i) => i.attempt)).toEqual([1, 2, 3, 4, 5, 6]);
    const snap = s.actor.getSnapshot();
    expect(snap.value).toBe('failed');
    expect(snap.context.failureReason).toBe('retries_exhausted');
    expect(snap.context.lastError).toMatchObject({ code: 428, reason: 'connection_closed' });
    expect(snap.context.nextRetryAt).toBeNull();
  });

  it('shows the pending retry: attempt, max_attempts and next_retry_at', () => {
    const s = scriptedSession({ behaviour: opensOnceThenDrops });
    s.actor.send({ type: 'session.start' });
    s.current.send(DROP);
    s.advance(0);
    s.advance(1); // attempt 1 (t=0) failed at once: now waiting for attempt 2
    const c = s.actor.getSnapshot().context;
    expect(c.attempt).toBe(2);
    expect(c.maxAttempts).toBe(6);
    expect(c.retryDelayMs).toBe(30 * S);
    expect(c.nextRetryAt).toBe(s.invocations[1].at + 30 * S);
  });

  it('starts the same schedule when the first connect after session.start fails', () => {
    const s = scriptedSession({ behaviour: (_n, send) => send(DROP) });
    const t0 = s.clock.now();
    s.actor.send({ type: 'session.start' });
    s.advance(2000 * S);
    expect(s.invocations.map((i) => (i.at - t0) / S)).toEqual([0, 0, 30, 90, 210, 450, 930]);
    expect(s.actor.getSnapshot().context.failureReason).toBe('retries_exhausted');
  });

  it('resets the attempt counter when a connection opens', () => {
    let opens = false;
    const s = scriptedSession({
      behaviour: (n, send) => (n === 1 || opens ? send({ type: 'client.open' }) : send(DROP)),
    });
    s.actor.send({ type: 'session.start' });
    s.current.send(DROP);
    s.advance(90 * S); // attempts 1..3 failed; attempt 4 waits until t=210
    expect(s.actor.getSnapshot().context.attempt).toBe(4);
    opens = true;
    s.advance(120 * S);
    let snap = s.actor.getSnapshot();
    expect(status(s)).toBe('connected');
    expect(snap.context.attempt).toBe(0);
    expect(snap.context.openedAfterAttempts).toBe(4);

    // The next drop starts again from delay 0, attempt 1.
    const before = s.invocations.length;
    opens = false;
    const t1 = s.clock.now();
    s.current.send(DROP);
    s.advance(0);
    snap = s.actor.getSnapshot();
    expect(s.invocations[before].at).toBe(t1);
    expect(s.invocations[before].attempt).toBe(1);
    expect(snap.context.attempt).toBe(2);
    expect(snap.context.retryDelayMs).toBe(30 * S);
  });

  it('keeps every jittered delay within ±jitter of its base over many draws', () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const policy = { delaysMs: [0, 30 * S, 60 * S, 120 * S, 240 * S, 480 * S], jitter: 0.2 };
    for (let attempt = 1; attempt <= 6; attempt++) {
      const base = policy.delaysMs[attempt - 1];
      const seen = new Set<number>();
      for (let i = 0; i < 2000; i++) {
        const d = retryDelayMs(policy, attempt, random);
        expect(d).toBeGreaterThanOrEqual(base * 0.8);
        expect(d).toBeLessThanOrEqual(base * 1.2);
        seen.add(d);
      }
      // It really spreads (except the immediate first attempt).
      expect(seen.size > 100).toBe(base > 0);
    }
    expect(retryDelayMs(policy, 2, () => 0)).toBe(24 * S);
    expect(retryDelayMs(policy, 2, () => 0.999_999_9)).toBe(36 * S);
  });

  it('runs the jittered schedule through the actor', () => {
    const s = scriptedSession({
      behaviour: opensOnceThenDrops,
      policy: { delaysMs: [0, 30 * S, 60 * S], jitter: 0.5 },
      random: () => 0, // always the low edge: base × 0.5
    });
    s.actor.send({ type: 'session.start' });
    const t0 = s.clock.now();
    s.current.send(DROP);
    s.advance(200 * S);
    expect(s.invocations.slice(1).map((i) => (i.at - t0) / S)).toEqual([0, 15, 45]);
  });
});

describe('session machine: disconnect reasons', () => {
  it.each([
    [401, 'logged_out'],
    [403, 'forbidden'],
    [411, 'multidevice_mismatch'],
    [440, 'replaced'],
  ])('fails permanently on %i (%s) and never connects again', (code, reason) => {
    const s = scriptedSession({ behaviour: (n, send) => n === 1 && send({ type: 'client.open' }) });
    s.actor.send({ type: 'session.start' });
    s.current.send({ type: 'client.closed', code });
    s.advance(3000 * S);
    const snap = s.actor.getSnapshot();
    expect(snap.value).toBe('failed');
    expect(snap.context.failureReason).toBe(reason);
    expect(snap.context.lastError).toMatchObject({ code, reason });
    expect(s.invocations).toHaveLength(1);
    expect(s.invocations[0].stoppedAt).not.toBeNull();
  });

  it.each([
    [408, 'timed_out'],
    [428, 'connection_closed'],
    [503, 'unavailable'],
    [500, 'bad_session'],
    [499, 'connection_error'],
  ])('backs off on %i (%s)', (code, reason) => {
    const s = scriptedSession({ behaviour: (n, send) => n === 1 && send({ type: 'client.open' }) });
    s.actor.send({ type: 'session.start' });
    s.current.send({ type: 'client.closed', code });
    const snap = s.actor.getSnapshot();
    expect(snap.value).toBe('backoff');
    expect(snap.context.attempt).toBe(1);
    expect(snap.context.lastError).toMatchObject({ code, reason });
  });

  it('ends failed(bad_session), not retries_exhausted, when 500 keeps coming', () => {
    const s = scriptedSession({ behaviour: (_n, send) => send({ type: 'client.closed', code: 500 }) });
    s.actor.send({ type: 'session.start' });
    s.advance(2000 * S);
    expect(s.actor.getSnapshot().context.failureReason).toBe('bad_session');
    expect(s.invocations).toHaveLength(7);
  });

  it('keeps an overriding reason such as proxy_error through to the failure', () => {
    const s = scriptedSession({
      behaviour: (_n, send) =>
        send({ type: 'client.closed', code: 503, reason: 'proxy_error', message: 'proxy refused' }),
    });
    s.actor.send({ type: 'session.start' });
    s.advance(2000 * S);
    const c = s.actor.getSnapshot().context;
    expect(c.failureReason).toBe('proxy_error');
    expect(c.lastError).toMatchObject({ code: 503, reason: 'proxy_error', message: 'proxy refused' });
  });

  it('reconnects at once on 515 without using an attempt', () => {
    const s = scriptedSession({ behaviour: (n, send) => (n <= 3 ? send(DROP) : undefined) });
    s.actor.send({ type: 'session.start' });
    s.advance(30 * S); // the first connect and attempts 1, 2 failed: attempt 2 is live
    expect(s.invocations).toHaveLength(3);
    s.advance(60 * S); // attempt 3 is live and hangs
    expect(s.invocations).toHaveLength(4);
    expect(s.actor.getSnapshot().context.attempt).toBe(3);

    const t = s.clock.now();
    s.current.send({ type: 'client.closed', code: 515 });
    expect(s.invocations).toHaveLength(5);
    expect(s.invocations[4]).toMatchObject({ at: t, attempt: 3 });
    expect(s.invocations[3].stoppedAt).toBe(t);
    expect(s.actor.getSnapshot().context.attempt).toBe(3);
    expect(status(s)).toBe('connecting');
  });

  it('treats a connect that neither opens nor shows a QR in time as a timeout', () => {
    const s = scriptedSession({ connectTimeoutMs: 20 * S });
    s.actor.send({ type: 'session.start' });
    s.advance(20 * S);
    const snap = s.actor.getSnapshot();
    expect(snap.value).not.toBe('online');
    expect(snap.context.lastError).toMatchObject({ code: 408, message: 'connect timeout' });
    expect(s.invocations[0].stoppedAt).not.toBeNull();
  });
});

describe('session machine: commands', () => {
  it('session.stop during backoff cancels the retry: no connect ever happens after it', () => {
    const s = scriptedSession({ behaviour: opensOnceThenDrops });
    s.actor.send({ type: 'session.start' });
    s.current.send(DROP);
    s.advance(1 * S); // attempt 1 failed, waiting 30 s
    expect(status(s)).toBe('backoff');
    const count = s.invocations.length;
    s.actor.send({ type: 'session.stop' });
    s.advance(5000 * S);
    expect(s.invocations).toHaveLength(count);
    expect(status(s)).toBe('idle');
    expect(s.actor.getSnapshot().context.nextRetryAt).toBeNull();
  });

  it('session.stop closes a live socket', () => {
    const s = scriptedSession({ behaviour: (_n, send) => send({ type: 'client.open' }) });
    s.actor.send({ type: 'session.start' });
    s.actor.send({ type: 'session.stop' });
    expect(s.invocations[0].stoppedAt).not.toBeNull();
    expect(status(s)).toBe('idle');
  });

  it('session.reconnect from failed starts a new episode on the same schedule', () => {
    const s = scriptedSession({ behaviour: (_n, send) => send(DROP) });
    s.actor.send({ type: 'session.start' });
    s.advance(2000 * S);
    expect(status(s)).toBe('failed');
    const before = s.invocations.length;

    const t0 = s.clock.now();
    s.actor.send({ type: 'session.reconnect', taskId: 'task-1' });
    expect(s.actor.getSnapshot().context).toMatchObject({ taskId: 'task-1', failureReason: null });
    s.advance(2000 * S);
    expect(s.invocations.slice(before).map((i) => (i.at - t0) / S)).toEqual([0, 0, 30, 90, 210, 450, 930]);
    expect(s.actor.getSnapshot().context.failureReason).toBe('retries_exhausted');
  });

  it('session.reconnect on a live session closes its socket and opens a new one with attempts reset', () => {
    const s = scriptedSession({ behaviour: (_n, send) => send({ type: 'client.open' }) });
    s.actor.send({ type: 'session.start' });
    s.actor.send({ type: 'session.reconnect', taskId: 't' });
    expect(s.invocations).toHaveLength(2);
    expect(s.invocations[0].stoppedAt).not.toBeNull();
    expect(s.invocations[1].attempt).toBe(0);
    expect(status(s)).toBe('connected');
    expect(s.actor.getSnapshot().context.taskId).toBe('t');
  });

  it('session.start on failed starts over; on a live session it does nothing', () => {
    const s = scriptedSession({
      behaviour: (n, send) => (n === 1 ? send({ type: 'client.closed', code: 401 }) : undefined),
    });
    s.actor.send({ type: 'session.start' });
    expect(status(s)).toBe('failed');
    s.actor.send({ type: 'session.start' });
    expect(status(s)).toBe('connecting');
    s.actor.send({ type: 'session.start' });
    expect(s.invocations).toHaveLength(2);
  });

  it('with auto_reconnect off, a drop ends failed(disconnected)', () => {
    const s = scriptedSession({
      autoReconnect: false,
      behaviour: (n, send) => n === 1 && send({ type: 'client.open' }),
    });
    s.actor.send({ type: 'session.start' });
    s.current.send(DROP);
    s.advance(1000 * S);
    expect(s.actor.getSnapshot().context.failureReason).toBe('disconnected');
    expect(s.invocations).toHaveLength(1);
  });

  it('session.configure turns auto_reconnect off for the next drop', () => {
    const s = scriptedSession({ behaviour: (n, send) => n === 1 && send({ type: 'client.open' }) });
    s.actor.send({ type: 'session.start' });
    s.actor.send({ type: 'session.configure', autoReconnect: false });
    expect(s.invocations).toHaveLength(1);
    s.current.send(DROP);
    expect(s.actor.getSnapshot().context.failureReason).toBe('disconnected');
  });

  it('a proxy change reconnects a live session at once, using no attempt; an idle one only stores it', () => {
    const s = scriptedSession({ behaviour: (_n, send) => send({ type: 'client.open' }) });
    s.actor.send({ type: 'session.configure', proxyUrl: 'socks5://h:1' });
    expect(s.invocations).toHaveLength(0);
    s.actor.send({ type: 'session.start' });
    s.actor.send({ type: 'session.configure', proxyUrl: null });
    expect(s.invocations).toHaveLength(2);
    expect(s.invocations[0].stoppedAt).not.toBeNull();
    expect(s.actor.getSnapshot().context.attempt).toBe(0);
    expect(status(s)).toBe('connected');
  });
});

describe('session machine: QR', () => {
  it('waits in qr while the code is shown, and fails with qr_timeout when it expires', () => {
    const s = scriptedSession();
    s.actor.send({ type: 'session.start' });
    s.current.send({ type: 'client.qr', qr: 'ref1,a,b,c' });
    expect(status(s)).toBe('qr');
    expect(s.actor.getSnapshot().context.qr).toBe('ref1,a,b,c');
    s.current.send({ type: 'client.qr', qr: 'ref2,a,b,c' });
    expect(s.actor.getSnapshot().context.qr).toBe('ref2,a,b,c');
    s.advance(600 * S); // the machine's own connect timeout does not apply while a QR is shown
    expect(status(s)).toBe('qr');

    s.current.send({
      type: 'client.closed',
      code: 408,
      reason: 'qr_timeout',
      message: 'QR refs attempts ended',
    });
    s.advance(3000 * S);
    const snap = s.actor.getSnapshot();
    expect(snap.value).toBe('failed');
    expect(snap.context.failureReason).toBe('qr_timeout');
    expect(snap.context.qr).toBeNull();
    expect(s.invocations).toHaveLength(1);
  });

  it('a drop while the QR is shown is not an expiry: it backs off', () => {
    const s = scriptedSession();
    s.actor.send({ type: 'session.start' });
    s.current.send({ type: 'client.qr', qr: 'q' });
    s.current.send({ type: 'client.closed', code: 408, message: 'Connection was lost' });
    expect(status(s)).toBe('backoff');
    expect(s.actor.getSnapshot().context.failureReason).toBeNull();
  });

  it('a scan ends in 515, a new socket at once, then connected', () => {
    const s = scriptedSession({ behaviour: (n, send) => n === 2 && send({ type: 'client.open' }) });
    s.actor.send({ type: 'session.start' });
    s.current.send({ type: 'client.qr', qr: 'q' });
    s.current.send({ type: 'client.closed', code: 515 });
    expect(status(s)).toBe('connected');
    expect(s.invocations.map((i) => i.attempt)).toEqual([0, 0]);
    expect(s.actor.getSnapshot().context.lastError).toBeNull();
  });
});

describe('session machine: restore after a restart', () => {
  it('resumes backoff at the stored attempt with what is left of its delay, not delay 1', () => {
    const s = scriptedSession({ behaviour: (_n, send) => send(DROP) });
    const lastError = { code: 428, reason: 'connection_closed', message: 'closed', at: 1 };
    s.actor.send({ type: 'session.restore', status: 'backoff', attempt: 3, retryInMs: 25 * S, lastError });
    expect(status(s)).toBe('backoff');
    expect(s.actor.getSnapshot().context).toMatchObject({ attempt: 3, lastError });
    const t0 = s.clock.now();
    s.advance(24 * S);
    expect(s.invocations).toHaveLength(0);
    s.advance(1 * S);
    expect(s.invocations.map((i) => [(i.at - t0) / S, i.attempt])).toEqual([[25, 3]]);
    // Attempt 3 failed: attempt 4 waits the 4th delay (120 s).
    expect(s.actor.getSnapshot().context).toMatchObject({ attempt: 4, retryDelayMs: 120 * S });
  });

  it('keeps a failed session failed, and never dials it', () => {
    const s = scriptedSession();
    s.actor.send({ type: 'session.restore', status: 'failed', failureReason: 'logged_out', lastError: null });
    s.advance(3000 * S);
    expect(status(s)).toBe('failed');
    expect(s.actor.getSnapshot().context.failureReason).toBe('logged_out');
    expect(s.invocations).toHaveLength(0);
  });
});
