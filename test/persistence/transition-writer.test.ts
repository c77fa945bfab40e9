import { ForeignKeyConstraintViolationException } from '@mikro-orm/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransitionRecord } from '../../src/persistence/session-repository.js';
import { createTransitionWriter } from '../../src/persistence/transition-writer.js';
import { openFixture, type PersistenceFixture, silentLogger } from './helpers.js';

const transition = (sessionId: number, attempt: number): TransitionRecord => ({
  sessionId,
  at: new Date(),
  from: 'backoff',
  to: 'connecting',
  event: 'retry',
  attempt,
  delayMs: null,
  reason: null,
  code: null,
  taskId: null,
  status: 'connecting',
  lastError: null,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('transition writer (fake record)', () => {
  it('returns at once and writes each session in order', async () => {
    const written: [number, number][] = [];
    const writer = createTransitionWriter({
      logger: silentLogger,
      record: async (t) => {
        await sleep(Math.random() * 5);
        written.push([t.sessionId, t.attempt]);
      },
    });
    for (let i = 0; i < 20; i++) {
      for (const session of [1, 2, 3]) expect(writer.enqueue(transition(session, i))).toBeUndefined();
    }
    expect(written).toEqual([]);
    expect(writer.pending).toBe(60);
    await writer.flush();
    expect(writer.pending).toBe(0);
    for (const session of [1, 2, 3]) {
      expect(written.filter(([s]) => s === session).map(([, a]) => a)).toEqual([...Array(20).keys()]);
    }
  });

  it('retries a failing write with backoff, holding the later ones back', async () => {
    const written: number[] = [];
    let failures = 0;
    const writer = createTransitionWriter({
      logger: silentLogger,
      retryDelayMs: 5,
      record: async (t) => {
        if (t.attempt === 1 && failures < 3) {
          failures++;
          throw new Error('Connection terminated unexpectedly');
        }
        written.push(t.attempt);
      },
    });
    for (let i = 0; i < 4; i++) writer.enqueue(transition(1, i));
    await writer.flush();
    expect(failures).toBe(3);
    expect(written).toEqual([0, 1, 2, 3]);
  });

  it('drops a write that can never succeed and goes on', async () => {
    const written: number[] = [];
    const writer = createTransitionWriter({
      logger: silentLogger,
      retryDelayMs: 5,
      record: async (t) => {
        if (t.attempt === 1) throw new ForeignKeyConstraintViolationException(new Error('session gone'));
        written.push(t.attempt);
      },
    });
    for (let i = 0; i < 3; i++) writer.enqueue(transition(1, i));
    await writer.flush();
    expect(written).toEqual([0, 2]);
  });

  it('flush() also waits for what is enqueued while it waits', async () => {
    const written: number[] = [];
    const writer = createTransitionWriter({
      logger: silentLogger,
      record: async (t) => {
        await sleep(2);
        written.push(t.attempt);
      },
    });
    writer.enqueue(transition(1, 0));
    const flushed = writer.flush();
    writer.enqueue(transition(1, 1));
    writer.enqueue(transition(2, 2));
    await flushed;
    expect(written.sort()).toEqual([0, 1, 2]);
  });
});

describe('transition writer (PostgreSQL)', () => {
  let fx: PersistenceFixture;

  beforeAll(async () => {
    fx = await openFixture(import.meta.url);
  });

  afterAll(async () => {
    await fx?.close();
  });

  it('keeps writing in order through a database outage', async () => {
    const a = await fx.repo.create({ usuarioId: 1, deviceName: 'a' });
    const b = await fx.repo.create({ usuarioId: 1, deviceName: 'b' });
    let failed = 0;
    const writer = createTransitionWriter({
      logger: silentLogger,
      retryDelayMs: 20,
      maxRetryDelayMs: 100,
      record: (t) =>
        fx.repo.recordTransition(t).catch((err) => {
          failed++;
          throw err;
        }),
    });

    writer.enqueue(transition(a.id, 0));
    await writer.flush();
    // The database goes away: every pooled connection is closed and new ones cannot be made.
    await fx.orm.close(true);
    for (let i = 1; i <= 5; i++) {
      writer.enqueue(transition(a.id, i));
      writer.enqueue(transition(b.id, i));
    }
    await sleep(300);
    expect(failed).toBeGreaterThan(0);
    expect(writer.pending).toBe(10);

    await fx.orm.connect();
    await writer.flush();
    expect(writer.pending).toBe(0);
    const attempts = async (id: number) =>
      (await fx.repo.listEvents(id, { pageSize: 100 })).items.map((e) => e.attempt).reverse();
    expect(await attempts(a.id)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(await attempts(b.id)).toEqual([1, 2, 3, 4, 5]);
    expect((await fx.repo.get(a.id))?.reconnectAttempts).toBe(5);
  });
});
