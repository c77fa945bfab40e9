/** Reconnect schedule: attempt n waits `delaysMs[n-1]` after the previous failure. */
export interface ReconnectPolicy {
  delaysMs: number[];
  /** 0..1: each delay is spread by ±this fraction. */
  jitter: number;
}

/** The original product's schedule: 0, 30, 60, 120, 240, 480 s. */
export const DEFAULT_RECONNECT_DELAYS_MS = [0, 30_000, 60_000, 120_000, 240_000, 480_000];

export const DEFAULT_RECONNECT_POLICY: ReconnectPolicy = {
  delaysMs: DEFAULT_RECONNECT_DELAYS_MS,
  jitter: 0.2,
};

/**
 * The delay before attempt `attempt` (1-based): the base delay spread by ±jitter.
 * `random` returns a number in [0, 1).
 */
export function retryDelayMs(policy: ReconnectPolicy, attempt: number, random: () => number): number {
  const base = policy.delaysMs[attempt - 1] ?? policy.delaysMs[policy.delaysMs.length - 1] ?? 0;
  if (base === 0 || policy.jitter === 0) return base;
  const spread = policy.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(base * (1 + spread)));
}

/** How a disconnect is handled, by Baileys `DisconnectReason` status code. */
export type Decision = 'permanent' | 'restart' | 'retry';

export interface DisconnectClass {
  reason: string;
  decision: Decision;
}

const REASONS: Record<number, DisconnectClass> = {
  401: { reason: 'logged_out', decision: 'permanent' },
  403: { reason: 'forbidden', decision: 'permanent' },
  411: { reason: 'multidevice_mismatch', decision: 'permanent' },
  440: { reason: 'replaced', decision: 'permanent' },
  515: { reason: 'restart_required', decision: 'restart' },
  500: { reason: 'bad_session', decision: 'retry' },
  408: { reason: 'timed_out', decision: 'retry' },
  428: { reason: 'connection_closed', decision: 'retry' },
  503: { reason: 'unavailable', decision: 'retry' },
};

/** Reasons that keep their own name when retries run out, instead of `retries_exhausted`. */
const STICKY_REASONS = new Set(['bad_session', 'proxy_error']);

/** Classifies a disconnect; `reasonOverride` (e.g. `proxy_error`) replaces the name but not the decision. */
export function classifyDisconnect(code: number, reasonOverride?: string): DisconnectClass {
  const known = REASONS[code] ?? { reason: 'connection_error', decision: 'retry' };
  return reasonOverride ? { reason: reasonOverride, decision: known.decision } : known;
}

/** The failure reason once retries are used up, given the last error's reason. */
export function exhaustedReason(lastReason: string | undefined): string {
  return lastReason && STICKY_REASONS.has(lastReason) ? lastReason : 'retries_exhausted';
}
