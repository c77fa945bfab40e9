import type { Logger } from 'pino';
import type { SessionTransition } from '../machines/transition.js';

/**
 * One structured line per transition (`msg: "session transition"`) for log aggregation, followed,
 * where a person would want it, by a line that reads as a sentence.
 */
export function logTransition(logger: Logger, t: SessionTransition): void {
  const fields = {
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
  };
  logger.info(fields, 'session transition');
  const sentence = describe(t);
  if (sentence) logger[t.to === 'failed' ? 'warn' : 'info'](fields, sentence);
}

function describe(t: SessionTransition): string | null {
  if (t.to === 'backoff' && t.delayMs !== null) {
    return `scheduling reconnect of session ${t.sessionId} in ${formatDelay(t.delayMs)}`;
  }
  if (t.from === 'backoff' && t.to === 'connecting') {
    return `reconnecting session ${t.sessionId} (attempt ${t.attempt}/${t.maxAttempts})`;
  }
  if (t.to === 'connected' && t.openedAfterAttempts) {
    const n = t.openedAfterAttempts;
    return `session ${t.sessionId} reconnected after ${n} attempt${n === 1 ? '' : 's'}`;
  }
  if (t.to === 'failed') {
    return `session ${t.sessionId} failed permanently: ${t.failureReason ?? t.reason ?? 'unknown'}`;
  }
  return null;
}

function formatDelay(ms: number): string {
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${(ms / 1000).toFixed(1)}s`;
}
