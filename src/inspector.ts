import type { Logger } from 'pino';
import type { AnyEventObject, InspectionEvent } from 'xstate';
import { maskUrlPassword } from './logger.js';

export interface Inspection {
  /** Pass to the supervisor's `inspect`. */
  inspect(event: InspectionEvent): void;
  stop(): void;
}

const REDACTED = '[redacted]';

/** Session and supervisor context as the inspector may see it: no QR, no functions, refs by id. */
export function sanitizeContext(context: Record<string, unknown>): Record<string, unknown> {
  // Callback actors have no context.
  if (!context || typeof context !== 'object') return context;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(context)) {
    if (typeof value === 'function') continue;
    if (key === 'qr') out[key] = value === null ? null : REDACTED;
    else if (key === 'sessions' && value && typeof value === 'object') out[key] = Object.keys(value);
    else if (key === 'shards' && Array.isArray(value)) out[key] = value.length;
    else if (key === 'gate' && value && typeof value === 'object') {
      const gate = value as { limit: number; inFlight: number; queued: number };
      out[key] = { limit: gate.limit, inFlight: gate.inFlight, waiting: gate.queued };
    } else if (key === 'input' || key === 'defaults') continue;
    else out[key] = value;
  }
  return out;
}

/** Events as the inspector may see them: QR strings and proxy passwords removed, actor refs dropped. */
export function sanitizeEvent(event: AnyEventObject): AnyEventObject {
  const out: AnyEventObject = { type: event.type };
  for (const [key, value] of Object.entries(event)) {
    if (key === 'type' || key === 'replyTo') continue;
    if (key === 'qr') out[key] = REDACTED;
    else if (key === 'proxyUrl' && typeof value === 'string') out[key] = maskUrlPassword(value);
    else if (key === 'command' && value && typeof value === 'object')
      out[key] = sanitizeEvent(value as AnyEventObject);
    else if (typeof value !== 'function' && typeof value !== 'object') out[key] = value;
    else if (value === null) out[key] = null;
  }
  return out;
}

/**
 * Streams every actor's events and snapshots to a @statelyai/inspect WebSocket server. Only called
 * when INSPECT is set: the package keeps a reconnect timer alive even after `stop()`.
 */
export async function startInspection(url: string, logger: Logger): Promise<Inspection> {
  const { createWebSocketInspector } = await import('@statelyai/inspect');
  const inspector = createWebSocketInspector({ url, sanitizeContext, sanitizeEvent });
  logger.info({ url }, 'XState inspector streaming');
  return {
    // The inspector rewrites the event it is given, so it gets a copy.
    inspect: (event) => inspector.inspect.next?.({ ...event } as never),
    stop: () => inspector.stop(),
  };
}
