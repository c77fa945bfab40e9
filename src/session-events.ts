import type { Logger } from 'pino';
import type { SessionView } from '../machines/session-view.js';
import type {
  SessionEventRecord,
  SessionRepository,
  TransitionRecord,
  WrittenTransition,
} from './persistence/session-repository.js';

/** Who listens: a user gets its own sessions' events, an admin every session's. */
export interface FeedCaller {
  usuarioId: number;
  admin: boolean;
}

/** A transition row of `whatsapp_session_event`, with the session's live view when it is sent. */
export interface FeedEvent {
  record: SessionEventRecord;
  /** The session actor's view at the time of sending; undefined once the session is gone. */
  view: SessionView | undefined;
}

export interface SessionEventFeedOptions {
  sessions: Pick<SessionRepository, 'listEventsAfter'>;
  /** The live view of a session (the supervisor's). */
  view(sessionId: string): SessionView | undefined;
  logger: Logger;
}

export type SessionEventFeed = ReturnType<typeof createSessionEventFeed>;

/**
 * The live transition feed behind the SSE stream. The daemon publishes each transition once its
 * row is written, so every event carries its row id and a client can resume from the table.
 */
export function createSessionEventFeed({ sessions, view, logger }: SessionEventFeedOptions) {
  const log = logger.child({ component: 'session-events' });
  const listeners = new Set<{ caller: FeedCaller; fn: (event: FeedEvent) => void }>();

  return {
    /** Called after `recordTransition` wrote `t` as `written`. Never throws. */
    publish(t: TransitionRecord, written: WrittenTransition): void {
      if (listeners.size === 0) return;
      const event: FeedEvent = {
        record: {
          id: written.eventId,
          sessionId: t.sessionId,
          at: t.at,
          from: t.from,
          to: t.to,
          event: t.event,
          attempt: t.attempt,
          delayMs: t.delayMs,
          reason: t.reason,
          code: t.code,
          taskId: t.taskId,
        },
        view: view(String(t.sessionId)),
      };
      for (const listener of listeners) {
        if (!listener.caller.admin && listener.caller.usuarioId !== written.usuarioId) continue;
        try {
          listener.fn(event);
        } catch (err) {
          log.warn({ err }, 'event listener failed');
        }
      }
    },

    /** Live events for `caller` from now on; returns the unsubscribe function. */
    subscribe(caller: FeedCaller, fn: (event: FeedEvent) => void): () => void {
      const listener = { caller, fn };
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },

    /** Stored events after `afterId`, oldest first, at most `limit` (for Last-Event-ID). */
    async replay(caller: FeedCaller, afterId: string, limit = 500): Promise<FeedEvent[]> {
      const rows = await sessions.listEventsAfter(afterId, {
        usuarioId: caller.admin ? undefined : caller.usuarioId,
        limit,
      });
      return rows.map((record) => ({ record, view: view(String(record.sessionId)) }));
    },

    get listeners(): number {
      return listeners.size;
    },
  };
}
