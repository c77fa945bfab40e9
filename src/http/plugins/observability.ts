import fp from 'fastify-plugin';
import type { SessionStatus } from '../../../machines/session-view.js';
import type { Daemon } from '../../daemon.js';
import type { SessionEventFeed } from '../../session-events.js';

/** What the operations routes read: /metrics, the SSE stream, /healthz counts. */
export interface ObservabilityOptions {
  metrics: { render(): Promise<string>; contentType: string };
  /** METRICS_TOKEN: when set, /metrics wants `Authorization: Bearer <token>`. */
  metricsToken?: string;
  events: SessionEventFeed;
  /** Sessions per status, from the live actors. */
  sessionCounts(): Record<SessionStatus, number>;
  /** SSE heartbeat (`: ping`) interval. Default 15 s. */
  heartbeatMs?: number;
  /** The attempt limit, shown for sessions without an actor. */
  maxAttempts: number;
}

declare module 'fastify' {
  interface FastifyInstance {
    observability: ObservabilityOptions;
  }
}

/** The daemon's metrics, event feed and counts, for `buildApp({ observability })`. */
export function daemonObservability(
  daemon: Pick<Daemon, 'metrics' | 'events' | 'supervisor'>,
  opts: { metricsToken?: string; heartbeatMs?: number; maxAttempts: number },
): ObservabilityOptions {
  return {
    metrics: daemon.metrics,
    events: daemon.events,
    sessionCounts: () => daemon.supervisor.counts(),
    ...opts,
  };
}

export default fp(
  async (app, opts: ObservabilityOptions) => {
    app.decorate('observability', opts);
  },
  { name: 'observability' },
);
