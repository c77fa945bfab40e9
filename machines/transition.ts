import type { AnyEventObject, InspectionEvent, SnapshotFrom } from 'xstate';
import { classifyDisconnect } from './reconnect-policy.js';
import type { LastError, SessionMachine } from './session.machine.js';
import { type SessionStatus, sessionStatus } from './session-view.js';

/** One step of a session, as the transition log, the logs and the metrics record it. */
export interface SessionTransition {
  sessionId: string;
  from: SessionStatus;
  to: SessionStatus;
  /** The event that caused it, e.g. `client.closed`, `xstate.after.retryDelay…` shortened to `retry`. */
  event: string;
  attempt: number;
  maxAttempts: number;
  /** Wait before the next attempt, when this step schedules one. */
  delayMs: number | null;
  reason: string | null;
  code: number | null;
  taskId: string | null;
  /** ms since epoch */
  at: number;
  /** Attempts it took, when this step opens a connection. */
  openedAfterAttempts: number | null;
  failureReason: string | null;
  /** The session's last error after this step. */
  lastError: LastError | null;
}

function eventName(event: AnyEventObject): string {
  if (event.type.startsWith('xstate.after.')) {
    return event.type.includes('retryDelay') ? 'retry' : 'connect_timeout';
  }
  return event.type;
}

/** A step that keeps the status but swaps the socket: 515, a reconnect or a proxy change while online. */
function replacesConnection(next: SnapshotFrom<SessionMachine>, event: AnyEventObject): boolean {
  if (!next.matches('online')) return false;
  return (
    event.type === 'client.closed' ||
    event.type === 'session.reconnect' ||
    (event.type === 'session.configure' && 'proxyUrl' in event)
  );
}

/**
 * Describes the step from `prev` to `next`, or null when nothing a person would call a transition
 * happened (a context-only update, such as a rotated QR code).
 */
export function describeTransition(
  prev: SnapshotFrom<SessionMachine>,
  next: SnapshotFrom<SessionMachine>,
  event: AnyEventObject,
): SessionTransition | null {
  const from = sessionStatus(prev);
  const to = sessionStatus(next);
  if (from === to && !replacesConnection(next, event)) return null;

  const c = next.context;
  const closed =
    event.type === 'client.closed' ? (event as unknown as { code: number; reason?: string }) : null;
  return {
    sessionId: c.sessionId,
    from,
    to,
    event: eventName(event),
    attempt: c.attempt,
    maxAttempts: c.maxAttempts,
    delayMs: to === 'backoff' ? c.retryDelayMs : null,
    reason: closed ? classifyDisconnect(closed.code, closed.reason).reason : null,
    code: closed?.code ?? null,
    taskId: c.taskId,
    at: c.now(),
    openedAfterAttempts: to === 'connected' && from !== 'connected' ? c.openedAfterAttempts : null,
    failureReason: to === 'failed' ? c.failureReason : null,
    lastError: c.lastError,
  };
}

type SessionSnapshot = SnapshotFrom<SessionMachine>;

export function isSessionSnapshot(snapshot: unknown): snapshot is SessionSnapshot {
  return (snapshot as { machine?: { id?: string } } | undefined)?.machine?.id === 'session';
}

/**
 * An `inspect` observer for `createActor(..., { inspect })` that reports every transition of every
 * session actor in the system, spawned ones included.
 */
export function observeSessionTransitions(
  onTransition: (transition: SessionTransition) => void,
): (inspectionEvent: InspectionEvent) => void {
  const last = new WeakMap<object, SessionSnapshot>();
  return (inspectionEvent) => {
    if (inspectionEvent.type !== '@xstate.snapshot' || !isSessionSnapshot(inspectionEvent.snapshot)) return;
    const next = inspectionEvent.snapshot;
    const prev = last.get(inspectionEvent.actorRef);
    last.set(inspectionEvent.actorRef, next);
    if (!prev) return;
    const transition = describeTransition(prev, next, inspectionEvent.event);
    if (transition) onTransition(transition);
  };
}
