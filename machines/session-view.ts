import type { SnapshotFrom } from 'xstate';
import type { LastError, SessionMachine } from './session.machine.js';

export type SessionStatus = 'idle' | 'connecting' | 'qr' | 'connected' | 'backoff' | 'failed';

/** Every status, in the order of a session's life. */
export const SESSION_STATUSES_ORDER: readonly SessionStatus[] = [
  'idle',
  'connecting',
  'qr',
  'connected',
  'backoff',
  'failed',
];

/** A count per status, all zero, in the order of a session's life. */
export function emptyStatusCounts(): Record<SessionStatus, number> {
  return Object.fromEntries(SESSION_STATUSES_ORDER.map((s) => [s, 0])) as Record<SessionStatus, number>;
}

/** What the API and dashboards show of a session actor. */
export interface SessionView {
  sessionId: string;
  status: SessionStatus;
  attempt: number;
  maxAttempts: number;
  nextRetryAt: number | null;
  lastError: LastError | null;
  failureReason: string | null;
  taskId: string | null;
  connectedAt: number | null;
}

/** The API-visible status of a session snapshot. */
export function sessionStatus(snapshot: SnapshotFrom<SessionMachine>): SessionStatus {
  if (snapshot.matches({ online: { connecting: 'qr' } })) return 'qr';
  if (snapshot.matches({ online: 'connecting' })) return 'connecting';
  if (snapshot.matches({ online: 'connected' })) return 'connected';
  if (snapshot.matches('backoff')) return 'backoff';
  if (snapshot.matches('failed')) return 'failed';
  return 'idle';
}

export function sessionView(snapshot: SnapshotFrom<SessionMachine>): SessionView {
  const c = snapshot.context;
  return {
    sessionId: c.sessionId,
    status: sessionStatus(snapshot),
    attempt: c.attempt,
    maxAttempts: c.maxAttempts,
    nextRetryAt: c.nextRetryAt,
    lastError: c.lastError,
    failureReason: c.failureReason,
    taskId: c.taskId,
    connectedAt: c.connectedAt,
  };
}
