import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { observeSessionTransitions } from '../machines/transition.js';
import { createLogger } from '../src/logger.js';
import { logTransition } from '../src/transition-log.js';
import { scriptedSession } from './support/fake-connection.js';

function captureLogs() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'info', destination }) };
}

describe('transition logs', () => {
  it('writes the exact sequence of lines for a drop, three failed attempts, a recovery and a permanent failure', async () => {
    const { lines, logger } = captureLogs();
    let opens = true;
    const s = scriptedSession({
      inspect: observeSessionTransitions((t) => logTransition(logger, t)),
      behaviour: (_n, send) => send(opens ? { type: 'client.open' } : { type: 'client.closed', code: 428 }),
    });
    s.actor.send({ type: 'session.start' });
    opens = false;
    s.current.send({ type: 'client.closed', code: 428 });
    s.advance(90_000); // attempts 1..3 fail, attempt 4 waits 120 s
    opens = true;
    s.advance(120_000);
    s.current.send({ type: 'client.closed', code: 401 });
    await new Promise((r) => setImmediate(r));

    expect(lines.map((l) => l.msg)).toEqual([
      'session transition',
      'session transition',
      'session transition',
      'scheduling reconnect of session 1 in 0s',
      'session transition',
      'reconnecting session 1 (attempt 1/6)',
      'session transition',
      'scheduling reconnect of session 1 in 30s',
      'session transition',
      'reconnecting session 1 (attempt 2/6)',
      'session transition',
      'scheduling reconnect of session 1 in 60s',
      'session transition',
      'reconnecting session 1 (attempt 3/6)',
      'session transition',
      'scheduling reconnect of session 1 in 120s',
      'session transition',
      'reconnecting session 1 (attempt 4/6)',
      'session transition',
      'session 1 reconnected after 4 attempts',
      'session transition',
      'session 1 failed permanently: logged_out',
    ]);
    const transitions = lines.filter((l) => l.msg === 'session transition');
    expect(transitions[2]).toMatchObject({
      session_id: '1',
      from: 'connected',
      to: 'backoff',
      event: 'client.closed',
      attempt: 1,
      max_attempts: 6,
      delay_ms: 0,
      reason: 'connection_closed',
      code: 428,
      task_id: null,
    });
    expect(
      Object.keys(transitions[0]).filter((k) => !['level', 'time', 'pid', 'hostname'].includes(k)),
    ).toEqual([
      'session_id',
      'from',
      'to',
      'event',
      'attempt',
      'max_attempts',
      'delay_ms',
      'reason',
      'code',
      'task_id',
      'msg',
    ]);
    expect(lines.at(-1)).toMatchObject({ level: 40, to: 'failed', code: 401 });
  });

  it('says when retries run out', async () => {
    const { lines, logger } = captureLogs();
    const s = scriptedSession({
      policy: { delaysMs: [0], jitter: 0 },
      inspect: observeSessionTransitions((t) => logTransition(logger, t)),
      behaviour: (_n, send) => send({ type: 'client.closed', code: 503 }),
    });
    s.actor.send({ type: 'session.start' });
    s.advance(1000);
    await new Promise((r) => setImmediate(r));
    expect(lines.at(-1)?.msg).toBe('session 1 failed permanently: retries_exhausted');
  });
});
