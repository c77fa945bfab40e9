import type { Static } from 'typebox';
import { emptyStatusCounts, type SessionView } from '../../machines/session-view.js';
import type { SessionBrief } from '../persistence/session-repository.js';
import type { StatusSummarySchema } from './schemas/session.js';

type SummaryItem = Static<typeof StatusSummarySchema>['sessions'][number];

interface ItemJson {
  row: SessionBrief;
  view: SessionView | undefined;
  json: string;
}

interface ScopeEntry {
  rows: readonly SessionBrief[];
  viewsVersion: number;
  body: Buffer;
  items: Map<number, ItemJson>;
}

/** One session as `GET /sessions/status/` shows it (StatusSummarySchema's item, in its key order). */
export function summaryItem(row: SessionBrief, view: SessionView | undefined): SummaryItem {
  return {
    id: row.id,
    device_name: row.deviceName,
    status: view?.status ?? 'idle',
    desired_state: row.desiredState,
    attempt: view?.attempt ?? 0,
    next_retry_at: view?.nextRetryAt == null ? null : new Date(view.nextRetryAt).toISOString(),
    failure_reason: view?.failureReason ?? null,
  };
}

/**
 * The bodies of `GET /sessions/status/`, one per caller scope (an owner, or every session for an
 * admin), for dashboards that poll it:
 * - while the scope's rows (the same array from the brief cache) and the supervisor's views
 *   version are unchanged, the last body is sent again as it is;
 * - otherwise it is rebuilt, reusing the JSON of every session whose row and view objects are the
 *   ones it was made from, so a fleet where a few sessions move costs a few items, not all of them.
 */
export function createStatusSummaries(options: { maxScopes?: number } = {}) {
  const maxScopes = options.maxScopes ?? 1_000;
  const scopes = new Map<string, ScopeEntry>();

  return {
    body(
      scope: string,
      rows: readonly SessionBrief[],
      viewsVersion: number,
      viewOf: (sessionId: number) => SessionView | undefined,
    ): Buffer {
      const last = scopes.get(scope);
      if (last && last.rows === rows && last.viewsVersion === viewsVersion) return last.body;

      const byStatus = emptyStatusCounts();
      const items = new Map<number, ItemJson>();
      const parts: string[] = [];
      for (const row of rows) {
        const view = viewOf(row.id);
        byStatus[view?.status ?? 'idle']++;
        const before = last?.items.get(row.id);
        const json =
          before && before.row === row && before.view === view
            ? before.json
            : JSON.stringify(summaryItem(row, view));
        items.set(row.id, { row, view, json });
        parts.push(json);
      }
      const body = Buffer.from(
        `{"total":${rows.length},"by_status":${JSON.stringify(byStatus)},"sessions":[${parts.join(',')}]}`,
      );
      scopes.delete(scope);
      scopes.set(scope, { rows, viewsVersion, body, items });
      if (scopes.size > maxScopes) scopes.delete(scopes.keys().next().value as string);
      return body;
    },
  };
}
