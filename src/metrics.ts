import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { emptyStatusCounts, SESSION_STATUSES_ORDER, type SessionView } from '../machines/session-view.js';
import type { SessionTransition } from '../machines/transition.js';

export interface MetricsSource {
  list(): SessionView[];
  gateInFlight(): number;
}

export interface MetricsOptions {
  /** `wa_session_connected_seconds` per session: opt-in, its labels grow with the fleet. */
  perSession?: boolean;
  /** Process metrics (CPU, memory, event loop). Default true. */
  defaultMetrics?: boolean;
  now?: () => number;
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * The daemon's Prometheus registry. Counters move on transitions (`observe`); gauges are read
 * from the supervisor when scraped.
 */
export function createMetrics(source: MetricsSource, options: MetricsOptions = {}) {
  const now = options.now ?? Date.now;
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  new Gauge({
    name: 'wa_sessions',
    help: 'Sessions by state',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const counts = emptyStatusCounts();
      for (const view of source.list()) counts[view.status]++;
      for (const state of SESSION_STATUSES_ORDER) this.set({ state }, counts[state]);
    },
  });
  new Gauge({
    name: 'wa_connect_gate_in_flight',
    help: 'Connects holding a slot of the connect gate',
    registers: [registry],
    collect() {
      this.set(source.gateInFlight());
    },
  });
  if (options.perSession) {
    new Gauge({
      name: 'wa_session_connected_seconds',
      help: 'Seconds since the session connected (connected sessions only)',
      labelNames: ['session_id'],
      registers: [registry],
      collect() {
        this.reset();
        const t = now();
        for (const view of source.list()) {
          if (view.status === 'connected' && view.connectedAt !== null) {
            this.set({ session_id: view.sessionId }, (t - view.connectedAt) / 1000);
          }
        }
      },
    });
  }

  const transitions = new Counter({
    name: 'wa_session_transitions_total',
    help: 'Session state transitions',
    labelNames: ['from', 'to'],
    registers: [registry],
  });
  const disconnects = new Counter({
    name: 'wa_disconnects_total',
    help: 'Connections that closed, by reason and Baileys status code',
    labelNames: ['reason', 'code'],
    registers: [registry],
  });
  const reconnects = new Counter({
    name: 'wa_reconnect_attempts_total',
    help: 'Reconnect attempts by outcome (started, succeeded, failed, exhausted)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const connectDuration = new Histogram({
    name: 'wa_connect_duration_seconds',
    help: 'From the start of a connect to an open connection',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const connectingSince = new Map<string, number>();

  return {
    registry,
    /** Feed every session transition here. */
    observe(t: SessionTransition) {
      transitions.inc({ from: t.from, to: t.to });
      if (t.code !== null && t.reason !== null) disconnects.inc({ reason: t.reason, code: String(t.code) });
      if (t.from === 'backoff' && t.to === 'connecting') reconnects.inc({ outcome: 'started' });
      if (t.attempt > 0 && t.from === 'connecting' && (t.to === 'backoff' || t.to === 'failed')) {
        reconnects.inc({ outcome: 'failed' });
      }
      if (t.to === 'failed' && t.failureReason === 'retries_exhausted')
        reconnects.inc({ outcome: 'exhausted' });
      if (t.to === 'connected' && t.openedAfterAttempts) reconnects.inc({ outcome: 'succeeded' });

      // QR waits are the phone's time, not the connect's.
      if (t.to === 'connecting' && (t.from !== 'connecting' || t.event !== 'client.open')) {
        connectingSince.set(t.sessionId, t.at);
      } else if (t.to === 'qr' || t.to === 'idle' || t.to === 'failed' || t.to === 'backoff') {
        connectingSince.delete(t.sessionId);
      }
      if (t.to === 'connected') {
        const since = connectingSince.get(t.sessionId);
        if (since !== undefined) connectDuration.observe((t.at - since) / 1000);
        connectingSince.delete(t.sessionId);
      }
    },
    /** Forget a removed session. */
    forget(sessionId: string) {
      connectingSince.delete(sessionId);
    },
    contentType: registry.contentType,
    render: () => registry.metrics(),
  };
}
