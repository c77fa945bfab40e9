import type { Logger } from 'pino';
import type { SessionTransition } from '../machines/transition.js';

/** One structured line per transition, for log aggregation. */
export function logTransition(logger: Logger, t: SessionTransition): void {
  logger.info(
    {
      session_id: t.sessionId,
      from: t.from,
      to: t.to,
      event: t.event,
      attempt: t.attempt,
      max_attempts: t.maxAttempts,
      delay_ms: t.delayMs,
      reason: t.reason,
      code: t.code,
      task_id: t.taskId,
    },
    'session transition',
  );
}
