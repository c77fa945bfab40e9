import { ConstraintViolationException, ForeignKeyConstraintViolationException } from '@mikro-orm/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgAuthStore } from '../../src/persistence/pg-auth-store.js';
import type { TransitionRecord } from '../../src/persistence/session-repository.js';
import { openFixture, type PersistenceFixture, silentLogger } from './helpers.js';

let fx: PersistenceFixture;

beforeAll(async () => {
  fx = await openFixture(import.meta.url);
});

afterAll(async () => {
  await fx?.close();
});

const transition = (sessionId: number, over: Partial<TransitionRecord> = {}): TransitionRecord => ({
  sessionId,
  at: new Date(),
  from: 'connected',
  to: 'backoff',
  event: 'client.closed',
  attempt: 1,
  delayMs: 30_000,
  reason: 'connection_lost',
  code: 408,
  taskId: null,
  status: 'backoff',
  lastError: null,
  ...over,
});

describe('session repository', () => {
  it('creates, reads, updates and lists sessions by owner and status', async () => {
    const created = await fx.repo.create({ usuarioId: 41, deviceName: 'A', phoneNumber: '5511999990001' });
    expect(created).toMatchObject({
      usuarioId: 41,
      deviceName: 'A',
      phoneNumber: '5511999990001',
      status: 'idle',
      desiredState: 'stopped',
      autoReconnect: true,
      reconnectAttempts: 0,
      proxyEnabled: false,
      proxyUrl: null,
      lastError: null,
    });
    expect(created.createdAt).toBeInstanceOf(Date);
    await fx.repo.create({ usuarioId: 41, deviceName: 'B' });
    await fx.repo.create({ usuarioId: 42, deviceName: 'C' });

    expect(await fx.repo.get(created.id, { usuarioId: 42 })).toBeNull();
    expect((await fx.repo.get(created.id, { usuarioId: 41 }))?.deviceName).toBe('A');

    const updated = await fx.repo.update(created.id, {
      deviceName: 'A2',
      proxyEnabled: true,
      proxyUrl: 'socks5://u:p@127.0.0.1:1080',
    });
    expect(updated).toMatchObject({
      deviceName: 'A2',
      proxyEnabled: true,
      proxyUrl: 'socks5://u:p@127.0.0.1:1080',
    });
    expect(updated!.updatedAt.getTime()).toBeGreaterThanOrEqual(created.updatedAt.getTime());
    expect(await fx.repo.update(created.id, { deviceName: 'x' }, { usuarioId: 42 })).toBeNull();
    expect((await fx.repo.update(created.id, { proxyUrl: null }))?.proxyUrl).toBeNull();

    const page1 = await fx.repo.list({ usuarioId: 41, pageSize: 1 });
    expect(page1.total).toBe(2);
    expect(page1.items.map((s) => s.deviceName)).toEqual(['A2']);
    expect(
      (await fx.repo.list({ usuarioId: 41, page: 2, pageSize: 1 })).items.map((s) => s.deviceName),
    ).toEqual(['B']);

    await fx.repo.recordTransition(transition(created.id, { status: 'failed', to: 'failed' }));
    expect((await fx.repo.list({ usuarioId: 41, status: 'failed' })).items.map((s) => s.id)).toEqual([
      created.id,
    ]);
    expect((await fx.repo.list({ usuarioId: 41, status: ['idle', 'failed'] })).total).toBe(2);
  });

  it('lists the sessions to restore: desired state running', async () => {
    const a = await fx.repo.create({ usuarioId: 50, deviceName: 'a' });
    const b = await fx.repo.create({ usuarioId: 50, deviceName: 'b', desiredState: 'running' });
    expect(await fx.repo.setDesiredState(a.id, 'running')).toBe(true);
    expect(await fx.repo.setDesiredState(b.id, 'stopped')).toBe(true);
    expect(await fx.repo.setDesiredState(999_999, 'running')).toBe(false);
    const ids = (await fx.repo.listToRestore()).map((s) => s.id);
    expect(ids).toContain(a.id);
    expect(ids).not.toContain(b.id);
  });

  it('records a transition: one event row and the session row, in one transaction', async () => {
    const s = await fx.repo.create({ usuarioId: 60, deviceName: 's' });
    const at = new Date('2026-01-02T03:04:05.678Z');
    await fx.repo.recordTransition(
      transition(s.id, {
        at,
        attempt: 2,
        lastReconnectAt: at,
        disconnectedAt: at,
        lastError: { code: 408, reason: 'connection_lost', message: 'timed out', at },
        taskId: '6f1c1c5e-8a4e-4d5e-9a57-000000000001',
      }),
    );
    const row = await fx.repo.get(s.id);
    expect(row).toMatchObject({
      status: 'backoff',
      reconnectAttempts: 2,
      lastReconnectAt: at,
      disconnectedAt: at,
      connectedAt: null,
      lastError: { code: 408, reason: 'connection_lost', message: 'timed out', at },
    });
    const events = await fx.repo.listEvents(s.id);
    expect(events.total).toBe(1);
    expect(events.items[0]).toMatchObject({
      sessionId: s.id,
      at,
      from: 'connected',
      to: 'backoff',
      event: 'client.closed',
      attempt: 2,
      delayMs: 30_000,
      reason: 'connection_lost',
      code: 408,
      taskId: '6f1c1c5e-8a4e-4d5e-9a57-000000000001',
    });

    // Opening: connectedAt set, attempts back to 0, dates not given left alone.
    await fx.repo.recordTransition(
      transition(s.id, {
        to: 'connected',
        status: 'connected',
        attempt: 0,
        connectedAt: at,
        lastError: null,
      }),
    );
    expect(await fx.repo.get(s.id)).toMatchObject({
      status: 'connected',
      reconnectAttempts: 0,
      connectedAt: at,
      disconnectedAt: at,
      lastError: null,
    });
  });

  it('writes neither row when the second statement fails', async () => {
    const s = await fx.repo.create({ usuarioId: 61, deviceName: 's' });
    // The event insert succeeds; the row update then breaks the status CHECK constraint.
    const bogus = transition(s.id, { status: 'bogus' as TransitionRecord['status'], attempt: 3 });
    await expect(fx.repo.recordTransition(bogus)).rejects.toThrow(/check constraint/i);
    expect((await fx.repo.listEvents(s.id)).total).toBe(0);
    expect(await fx.repo.get(s.id)).toMatchObject({ status: 'idle', reconnectAttempts: 0 });
    await expect(fx.repo.recordTransition(transition(987_654))).rejects.toThrow(/foreign key/i);
    // The transition writer tells a gone session and a bad value apart by these classes.
    await expect(fx.repo.recordTransition(transition(987_654))).rejects.toBeInstanceOf(
      ForeignKeyConstraintViolationException,
    );
    await expect(fx.repo.recordTransition(bogus)).rejects.toBeInstanceOf(ConstraintViolationException);
  });

  it('lists events newest first, paginated and filtered by task', async () => {
    const s = await fx.repo.create({ usuarioId: 62, deviceName: 's' });
    const base = Date.parse('2026-03-01T00:00:00Z');
    for (let i = 0; i < 6; i++) {
      await fx.repo.recordTransition(
        transition(s.id, {
          at: new Date(base + i * 1000),
          attempt: i,
          taskId: i % 2 === 0 ? 'task-even' : null,
        }),
      );
    }
    // Same timestamp: insertion order breaks the tie.
    await fx.repo.recordTransition(transition(s.id, { at: new Date(base + 5000), attempt: 6 }));

    const all = await fx.repo.listEvents(s.id, { pageSize: 3 });
    expect(all.total).toBe(7);
    expect(all.items.map((e) => e.attempt)).toEqual([6, 5, 4]);
    expect((await fx.repo.listEvents(s.id, { page: 3, pageSize: 3 })).items.map((e) => e.attempt)).toEqual([
      0,
    ]);
    const task = await fx.repo.listEvents(s.id, { taskId: 'task-even' });
    expect(task.items.map((e) => e.attempt)).toEqual([4, 2, 0]);
  });

  it('deletes a session with its creds, keys and events', async () => {
    const s = await fx.repo.create({ usuarioId: 63, deviceName: 's' });
    const store = createPgAuthStore({ orm: fx.orm, keyring: fx.keyring, logger: silentLogger });
    const opened = await store.open(String(s.id));
    await opened.saveCreds();
    await opened.state.keys.set({ session: { a: Buffer.from('x') } });
    await fx.repo.recordTransition(transition(s.id));

    expect(await fx.repo.delete(s.id, { usuarioId: 64 })).toBe(false);
    expect(await fx.repo.delete(s.id)).toBe(true);
    for (const table of ['whatsapp_auth_creds', 'whatsapp_auth_key', 'whatsapp_session_event']) {
      expect(await fx.sql(`select 1 from ${table} where session_id = ?`, [s.id]), table).toHaveLength(0);
    }
    expect(await fx.repo.get(s.id)).toBeNull();
    expect(await fx.repo.delete(s.id)).toBe(false);
  });
});
