import {
  ConstraintViolationException,
  DriverException,
  ForeignKeyConstraintViolationException,
} from '@mikro-orm/core';
import type { Logger } from 'pino';
import type { TransitionRecord } from './session-repository.js';

export interface TransitionWriterOptions {
  /** Writes one transition (the repository's `recordTransition`); its result is not used. */
  record(t: TransitionRecord): Promise<unknown>;
  logger: Logger;
  /** First retry delay; doubles up to `maxRetryDelayMs`. Default 200 ms. */
  retryDelayMs?: number;
  /** Default 30 s. */
  maxRetryDelayMs?: number;
  /**
   * True for an error that retrying cannot fix; that transition is logged and dropped. Default:
   * constraint violations (such as the session having been deleted) and invalid data.
   */
  isPermanent?(err: unknown): boolean;
}

export interface TransitionWriter {
  /** Queues a transition and returns at once; per session, transitions are written in this order. */
  enqueue(t: TransitionRecord): void;
  /**
   * Resolves once everything enqueued before and during the call has been written (or dropped).
   * While the database stays down it does not resolve: race it with a deadline on shutdown.
   */
  flush(): Promise<void>;
  /** Transitions queued and not yet written. */
  readonly pending: number;
}

/** SQLSTATE class 22 (data exception) or 23 (integrity constraint violation). */
export function isPermanentWriteError(err: unknown): boolean {
  if (err instanceof ConstraintViolationException) return true;
  const code = err instanceof DriverException ? err.code : undefined;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

/**
 * A serial queue per session in front of `record`, so an actor never waits for the database.
 * A write that fails for a transient reason (the database is down) is retried with backoff, and
 * the session's later transitions wait behind it: nothing is dropped and the order holds.
 */
export function createTransitionWriter({
  record,
  logger,
  retryDelayMs = 200,
  maxRetryDelayMs = 30_000,
  isPermanent = isPermanentWriteError,
}: TransitionWriterOptions): TransitionWriter {
  const log = logger.child({ component: 'transition-writer' });
  const queues = new Map<number, TransitionRecord[]>();
  const running = new Map<number, Promise<void>>();
  let pending = 0;

  const drain = async (sessionId: number, queue: TransitionRecord[]) => {
    while (queue.length > 0) {
      const t = queue[0];
      for (let failures = 0; ; failures++) {
        try {
          await record(t);
          if (failures > 0)
            log.info({ session_id: sessionId, failures }, 'transition written after retrying');
          break;
        } catch (err) {
          if (err instanceof ForeignKeyConstraintViolationException) {
            // Normal when a session is deleted while its last transitions are queued.
            log.warn(
              { session_id: sessionId, event: t.event },
              'session no longer exists; transition dropped',
            );
            break;
          }
          if (isPermanent(err)) {
            log.error({ err, session_id: sessionId, transition: t }, 'transition cannot be written; dropped');
            break;
          }
          const delay = Math.min(maxRetryDelayMs, retryDelayMs * 2 ** Math.min(failures, 20));
          if (failures === 0 || delay === maxRetryDelayMs) {
            log.warn(
              { err, session_id: sessionId, failures: failures + 1, retryInMs: delay },
              'transition write failed',
            );
          }
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
      }
      queue.shift();
      pending--;
    }
  };

  const start = (sessionId: number, queue: TransitionRecord[]) => {
    const run = drain(sessionId, queue).finally(() => {
      running.delete(sessionId);
      // Something may have been enqueued between the loop's last check and this callback.
      if (queue.length > 0) start(sessionId, queue);
      else queues.delete(sessionId);
    });
    running.set(sessionId, run);
  };

  return {
    enqueue(t) {
      let queue = queues.get(t.sessionId);
      if (!queue) {
        queue = [];
        queues.set(t.sessionId, queue);
      }
      queue.push(t);
      pending++;
      if (!running.has(t.sessionId)) start(t.sessionId, queue);
    },

    async flush() {
      while (running.size > 0) await Promise.all(running.values());
    },

    get pending() {
      return pending;
    },
  };
}
