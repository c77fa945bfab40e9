import type { Logger } from 'pino';
import { type ActorRefFrom, type AnyActorLogic, createActor, type InspectionEvent, waitFor } from 'xstate';
import type { ReconnectPolicy } from '../machines/reconnect-policy.js';
import { type SessionCommand, sessionMachine } from '../machines/session.machine.js';
import {
  emptyStatusCounts,
  type SessionStatus,
  type SessionView,
  sessionView,
} from '../machines/session-view.js';
import { gateInFlight, sessionSystemId, supervisorWithSessions } from '../machines/supervisor.machine.js';
import {
  isSessionSnapshot,
  observeSessionTransitions,
  type SessionTransition,
} from '../machines/transition.js';
import { logTransition } from './transition-log.js';

export interface SupervisorOptions {
  logger: Logger;
  /** The `connection` actor logic: Baileys in production (src/whatsapp/connection.ts). */
  connection: AnyActorLogic;
  policy: ReconnectPolicy;
  maxConcurrentConnects: number;
  connectTimeoutMs?: number;
  /** Called for every transition of every session, after it is logged. */
  onTransition?: (transition: SessionTransition) => void;
  /** Extra inspection (e.g. the live inspector). */
  inspect?: (event: InspectionEvent) => void;
}

export type Supervisor = ReturnType<typeof startSupervisor>;

/**
 * Starts the root supervisor actor (systemId `supervisor`) with the real effects plugged in,
 * and gives the rest of the daemon a small command surface over it.
 */
export function startSupervisor(options: SupervisorOptions) {
  const { logger } = options;
  const session = sessionMachine.provide({ actors: { connection: options.connection as never } });
  const observe = observeSessionTransitions((transition) => {
    logTransition(logger, transition);
    options.onTransition?.(transition);
  });

  // The view of every session, kept as its actor changes, so that reading the fleet (the status
  // summary, /healthz, metrics) costs a map walk and not a statechart match per session per read.
  const views = new Map<string, SessionView>();
  const counts = emptyStatusCounts();
  let version = 0;
  const keepView = (event: InspectionEvent) => {
    if (event.type !== '@xstate.snapshot' || !isSessionSnapshot(event.snapshot)) return;
    if (event.snapshot.status !== 'active') return;
    const view = sessionView(event.snapshot);
    const before = views.get(view.sessionId);
    if (before) counts[before.status]--;
    counts[view.status]++;
    views.set(view.sessionId, view);
    version++;
  };
  const dropView = (sessionId: string) => {
    const before = views.get(sessionId);
    if (!before) return;
    counts[before.status]--;
    views.delete(sessionId);
    version++;
  };
  const actor = createActor(supervisorWithSessions(session), {
    systemId: 'supervisor',
    input: {
      maxConcurrentConnects: options.maxConcurrentConnects,
      policy: options.policy,
      connectTimeoutMs: options.connectTimeoutMs,
    },
    inspect: (event) => {
      keepView(event);
      observe(event);
      options.inspect?.(event);
    },
  });
  actor.subscribe({ error: (err) => logger.error({ err }, 'supervisor actor failed') });
  actor.start();

  const sessionRef = (sessionId: string) =>
    actor.system.get(sessionSystemId(sessionId)) as ActorRefFrom<typeof sessionMachine> | undefined;
  const command = (sessionId: string, cmd: SessionCommand) => {
    if (!sessionRef(sessionId)) throw new Error(`no session ${sessionId}`);
    actor.send({ type: 'supervisor.command', sessionId, command: cmd });
  };

  return {
    actor,
    /** Spawns the actor for a session (idle unless `start`). Adding a known id does nothing. */
    add(sessionId: string, opts: { autoReconnect: boolean; start?: boolean }) {
      actor.send({ type: 'supervisor.add', sessionId, ...opts });
    },
    remove(sessionId: string) {
      actor.send({ type: 'supervisor.remove', sessionId });
      dropView(sessionId);
    },
    has: (sessionId: string) => Boolean(sessionRef(sessionId)),
    /** The session's actor, for what the view does not carry (the current QR). */
    ref: sessionRef,
    command,
    start: (sessionId: string) => command(sessionId, { type: 'session.start' }),
    stop: (sessionId: string) => command(sessionId, { type: 'session.stop' }),
    reconnect: (sessionId: string, taskId?: string) =>
      command(sessionId, { type: 'session.reconnect', taskId }),
    view: (sessionId: string): SessionView | undefined => views.get(sessionId),
    list: (): SessionView[] => [...views.values()],
    /** Sessions per status (a copy). */
    counts: (): Record<SessionStatus, number> => ({ ...counts }),
    /** Goes up whenever any session's view changes: a cache of views is fresh while it stays the same. */
    viewsVersion: () => version,
    gateInFlight: () => gateInFlight(actor.getSnapshot()),
    /** Resolves once the session's status satisfies `predicate`. */
    async waitForSession(sessionId: string, predicate: (view: SessionView) => boolean, timeoutMs = 10_000) {
      const ref = sessionRef(sessionId);
      if (!ref) throw new Error(`no session ${sessionId}`);
      const snapshot = await waitFor(ref, (s) => predicate(sessionView(s)), { timeout: timeoutMs });
      return sessionView(snapshot);
    },
    /** Stops every session actor (closing each socket, never logging out) and the supervisor. */
    shutdown() {
      if (actor.getSnapshot().status === 'active') actor.send({ type: 'supervisor.shutdown' });
    },
  };
}
