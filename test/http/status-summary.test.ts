import { Check } from 'typebox/value';
import { describe, expect, it } from 'vitest';
import type { SessionView } from '../../machines/session-view.js';
import { StatusSummarySchema } from '../../src/http/schemas/session.js';
import { createStatusSummaries, summaryItem } from '../../src/http/status-summary.js';
import type { SessionBrief } from '../../src/persistence/session-repository.js';

const view = (id: number, patch: Partial<SessionView> = {}): SessionView => ({
  sessionId: String(id),
  status: 'connected',
  attempt: 0,
  maxAttempts: 6,
  nextRetryAt: null,
  lastError: null,
  failureReason: null,
  taskId: null,
  connectedAt: 1,
  ...patch,
});

const rowsOf = (n: number): SessionBrief[] =>
  Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    deviceName: `device "${i + 1}"`,
    desiredState: 'running',
  }));

describe('status summary bodies', () => {
  it('match the response schema and the item order, with counts per status', () => {
    const rows = rowsOf(4);
    const views = new Map<number, SessionView>([
      [1, view(1)],
      [2, view(2, { status: 'backoff', attempt: 2, nextRetryAt: Date.UTC(2026, 10, 29, 12) })],
      [3, view(3, { status: 'failed', failureReason: 'logged_out' })],
    ]);
    const body = JSON.parse(String(createStatusSummaries().body('admin', rows, 1, (id) => views.get(id))));
    expect(Check(StatusSummarySchema, body)).toBe(true);
    expect(body).toEqual({
      total: 4,
      by_status: { idle: 1, connecting: 0, qr: 0, connected: 1, backoff: 1, failed: 1 },
      sessions: rows.map((r) => summaryItem(r, views.get(r.id))),
    });
    expect(body.sessions[1]).toMatchObject({
      status: 'backoff',
      attempt: 2,
      next_retry_at: '2026-11-29T12:00:00.000Z',
    });
    expect(body.sessions[3]).toMatchObject({ status: 'idle', attempt: 0, failure_reason: null });
  });

  it('sends the same bytes while rows and views stand still, and follows every change', () => {
    const summaries = createStatusSummaries();
    const rows = rowsOf(3);
    const views = new Map(rows.map((r) => [r.id, view(r.id)]));
    const viewOf = (id: number) => views.get(id);
    const first = summaries.body('user:1', rows, 7, viewOf);
    expect(summaries.body('user:1', rows, 7, viewOf)).toBe(first);

    // One session moves: a new view object and a new version.
    views.set(2, view(2, { status: 'backoff', attempt: 1 }));
    const moved = JSON.parse(String(summaries.body('user:1', rows, 8, viewOf)));
    expect(moved.by_status).toMatchObject({ connected: 2, backoff: 1 });
    expect(moved.sessions.map((s: { status: string }) => s.status)).toEqual([
      'connected',
      'backoff',
      'connected',
    ]);

    // A row changes: a new rows array with a new row object, same views version.
    const renamed = rows.map((r) => (r.id === 3 ? { ...r, deviceName: 'renamed' } : r));
    const after = JSON.parse(String(summaries.body('user:1', renamed, 8, viewOf)));
    expect(after.sessions[2].device_name).toBe('renamed');
    expect(after.sessions[1].status).toBe('backoff');

    // Another scope never gets this one's body.
    const other = JSON.parse(String(summaries.body('user:2', rows.slice(0, 1), 8, viewOf)));
    expect(other.total).toBe(1);
  });

  it('keeps at most maxScopes bodies, dropping the oldest', () => {
    const summaries = createStatusSummaries({ maxScopes: 2 });
    const rows = rowsOf(1);
    const a = summaries.body('a', rows, 1, () => undefined);
    summaries.body('b', rows, 1, () => undefined);
    summaries.body('c', rows, 1, () => undefined);
    expect(summaries.body('a', rows, 1, () => undefined)).not.toBe(a);
  });
});
