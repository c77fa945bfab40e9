import type { Logger } from 'pino';
import { type AnyActorLogic, createActor, type InspectionEvent, waitFor } from 'xstate';
import type { ReconnectPolicy } from '../machines/reconnect-policy.js';
import { type SessionCommand, sessionMachine } from '../machines/session.machine.js';
import { type SessionView, sessionView } from '../machines/session-view.js';
import { gateInFlight, sessionViews, supervisorMachine } from '../machines/supervisor.machine.js';
import { observeSessionTransitions, type SessionTransition } from '../machines/transition.js';
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
  const actor = createActor(supervisorMachine.provide({ actors: { session } }), {
    systemId: 'supervisor',
    input: {
      maxConcurrentConnects: options.maxConcurrentConnects,
      policy: options.policy,
      connectTimeoutMs: options.connectTimeoutMs,
    },
    inspect: (event) => {
      observe(event);
      options.inspect?.(event);
    },
  });
  actor.subscribe({ error: (err) => logger.error({ err }, 'supervisor actor failed') });
  actor.start();

  const sessionRef = (sessionId: string) => actor.getSnapshot().context.sessions[sessionId];
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
    },
    has: (sessionId: string) => Boolean(sessionRef(sessionId)),
    command,
    start: (sessionId: string) => command(sessionId, { type: 'session.start' }),
    stop: (sessionId: string) => command(sessionId, { type: 'session.stop' }),
    reconnect: (sessionId: string, taskId?: string) =>
      command(sessionId, { type: 'session.reconnect', taskId }),
    view(sessionId: string): SessionView | undefined {
      const ref = sessionRef(sessionId);
      return ref ? sessionView(ref.getSnapshot()) : undefined;
    },
    list: (): SessionView[] => sessionViews(actor.getSnapshot()),
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
