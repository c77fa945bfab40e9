import { describe, expect, it } from 'vitest';
import { observeSessionTransitions, type SessionTransition } from '../machines/transition.js';
import { scriptedSession } from './support/fake-connection.js';

describe('session transitions', () => {
  it('reports each step of a drop-and-recover episode with attempts, delays and reasons', () => {
    const seen: SessionTransition[] = [];
    let opens = true;
    const s = scriptedSession({
      inspect: observeSessionTransitions((t) => seen.push(t)),
      behaviour: (_n, send) => send(opens ? { type: 'client.open' } : { type: 'client.closed', code: 428 }),
    });
    s.actor.send({ type: 'session.start' });
    opens = false;
    s.current.send({ type: 'client.closed', code: 503, message: 'Stream Errored' });
    s.advance(0);
    opens = true;
    s.advance(30_000);

    expect(seen.map((t) => [t.from, t.to, t.event, t.attempt, t.delayMs, t.reason, t.code])).toEqual([
      ['idle', 'connecting', 'session.start', 0, null, null, null],
      ['connecting', 'connected', 'client.open', 0, null, null, null],
      ['connected', 'backoff', 'client.closed', 1, 0, 'unavailable', 503],
      ['backoff', 'connecting', 'retry', 1, null, null, null],
      ['connecting', 'backoff', 'client.closed', 2, 30_000, 'connection_closed', 428],
      ['backoff', 'connecting', 'retry', 2, null, null, null],
      ['connecting', 'connected', 'client.open', 0, null, null, null],
    ]);
    expect(seen[6].openedAfterAttempts).toBe(2);
    expect(seen[2].at).toBe(seen[3].at);
    expect(seen[5].at - seen[4].at).toBe(30_000);
  });

  it('records a 515 restart and a reconnect even though the status stays the same, but not a QR rotation', () => {
    const seen: SessionTransition[] = [];
    const s = scriptedSession({ inspect: observeSessionTransitions((t) => seen.push(t)) });
    s.actor.send({ type: 'session.start' });
    s.current.send({ type: 'client.qr', qr: 'a' });
    s.current.send({ type: 'client.qr', qr: 'b' });
    s.current.send({ type: 'client.closed', code: 515 });
    s.actor.send({ type: 'session.reconnect', taskId: 'task-9' });
    s.actor.send({ type: 'session.configure', autoReconnect: false });
    s.actor.send({ type: 'session.stop' });

    expect(seen.map((t) => [t.from, t.to, t.event, t.reason, t.taskId])).toEqual([
      ['idle', 'connecting', 'session.start', null, null],
      ['connecting', 'qr', 'client.qr', null, null],
      ['qr', 'connecting', 'client.closed', 'restart_required', null],
      ['connecting', 'connecting', 'session.reconnect', null, 'task-9'],
      ['connecting', 'idle', 'session.stop', null, null],
    ]);
  });

  it('names the failure when a session gives up', () => {
    const seen: SessionTransition[] = [];
    const s = scriptedSession({
      inspect: observeSessionTransitions((t) => seen.push(t)),
      behaviour: (_n, send) => send({ type: 'client.closed', code: 440 }),
    });
    s.actor.send({ type: 'session.start' });
    expect(seen.at(-1)).toMatchObject({
      from: 'connecting',
      to: 'failed',
      failureReason: 'replaced',
      code: 440,
    });
  });
});
