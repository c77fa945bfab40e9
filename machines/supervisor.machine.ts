import {
  type ActorRefFrom,
  type AnyActorRef,
  assign,
  enqueueActions,
  type SnapshotFrom,
  setup,
} from 'xstate';
import type { GateEvent } from './connection-protocol.js';
import type { ReconnectPolicy } from './reconnect-policy.js';
import { type SessionCommand, sessionMachine } from './session.machine.js';
import { type SessionView, sessionView } from './session-view.js';

export interface SupervisorInput {
  /** Connects in flight at once (the gate). */
  maxConcurrentConnects: number;
  policy: ReconnectPolicy;
  random?: () => number;
  now?: () => number;
  connectTimeoutMs?: number;
}

interface GateTicket {
  sessionId: string;
  replyTo: AnyActorRef;
}

type SessionRef = ActorRefFrom<typeof sessionMachine>;

export interface SupervisorContext {
  input: SupervisorInput;
  sessions: Record<string, SessionRef>;
  gate: { limit: number; inFlight: GateTicket[]; waiting: GateTicket[]; maxInFlight: number };
}

export type SupervisorEvent =
  | { type: 'supervisor.add'; sessionId: string; autoReconnect: boolean; start?: boolean }
  | { type: 'supervisor.remove'; sessionId: string }
  | { type: 'supervisor.command'; sessionId: string; command: SessionCommand }
  | { type: 'supervisor.shutdown' }
  | GateEvent;

/** systemId of a session actor. */
export const sessionSystemId = (sessionId: string) => `session:${sessionId}`;

export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as SupervisorInput,
  },
  actors: { session: sessionMachine },
  guards: {
    isNewSession: ({ context, event }) =>
      event.type === 'supervisor.add' && !context.sessions[event.sessionId],
    hasSession: ({ context, event }) =>
      (event.type === 'supervisor.remove' || event.type === 'supervisor.command') &&
      Boolean(context.sessions[event.sessionId]),
  },
  actions: {
    spawnSession: assign(({ context, event, spawn }) => {
      if (event.type !== 'supervisor.add') return {};
      const { input } = context;
      const ref = spawn('session', {
        id: sessionSystemId(event.sessionId),
        systemId: sessionSystemId(event.sessionId),
        input: {
          sessionId: event.sessionId,
          autoReconnect: event.autoReconnect,
          policy: input.policy,
          random: input.random,
          now: input.now,
          connectTimeoutMs: input.connectTimeoutMs,
        },
      });
      return { sessions: { ...context.sessions, [event.sessionId]: ref } };
    }),
    startIfAsked: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'supervisor.add' && event.start) {
        enqueue.sendTo(context.sessions[event.sessionId], { type: 'session.start' });
      }
    }),
    removeSession: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'supervisor.remove') return;
      const ref = context.sessions[event.sessionId];
      enqueue.stopChild(ref);
      const { [event.sessionId]: _removed, ...rest } = context.sessions;
      enqueue.assign({ sessions: rest });
    }),
    routeCommand: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'supervisor.command') return;
      enqueue.sendTo(context.sessions[event.sessionId], event.command);
    }),
    acquireSlot: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'gate.acquire') return;
      const { gate } = context;
      const ticket = { sessionId: event.sessionId, replyTo: event.replyTo };
      if (gate.inFlight.length < gate.limit) {
        const inFlight = [...gate.inFlight, ticket];
        enqueue.assign({
          gate: { ...gate, inFlight, maxInFlight: Math.max(gate.maxInFlight, inFlight.length) },
        });
        enqueue.sendTo(event.replyTo, { type: 'gate.granted' });
      } else {
        enqueue.assign({ gate: { ...gate, waiting: [...gate.waiting, ticket] } });
      }
    }),
    releaseSlot: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'gate.release') return;
      const { gate } = context;
      const inFlight = gate.inFlight.filter((t) => t.replyTo !== event.replyTo);
      const waiting = gate.waiting.filter((t) => t.replyTo !== event.replyTo);
      // Hand the freed slots to the longest waiting connections.
      while (inFlight.length < gate.limit && waiting.length > 0) {
        const next = waiting.shift() as GateTicket;
        inFlight.push(next);
        enqueue.sendTo(next.replyTo, { type: 'gate.granted' });
      }
      enqueue.assign({ gate: { ...gate, inFlight, waiting } });
    }),
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input }) => ({
    input,
    sessions: {},
    gate: { limit: input.maxConcurrentConnects, inFlight: [], waiting: [], maxInFlight: 0 },
  }),
  initial: 'running',
  states: {
    running: {
      on: {
        'supervisor.add': { guard: 'isNewSession', actions: ['spawnSession', 'startIfAsked'] },
        'supervisor.remove': { guard: 'hasSession', actions: 'removeSession' },
        'supervisor.command': { guard: 'hasSession', actions: 'routeCommand' },
        'gate.acquire': { actions: 'acquireSlot' },
        'gate.release': { actions: 'releaseSlot' },
        // Reaching the final state stops every session actor, which closes each socket (never a logout).
        'supervisor.shutdown': { target: 'stopped' },
      },
    },
    stopped: { type: 'final' },
  },
});

export type SupervisorMachine = typeof supervisorMachine;

/** Views of every session the supervisor owns, for the API. */
export function sessionViews(snapshot: SnapshotFrom<SupervisorMachine>): SessionView[] {
  return Object.values(snapshot.context.sessions).map((ref) => sessionView(ref.getSnapshot()));
}

/** Connects holding a gate slot right now. */
export function gateInFlight(snapshot: SnapshotFrom<SupervisorMachine>): number {
  return snapshot.context.gate.inFlight.length;
}
