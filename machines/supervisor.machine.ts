import { type ActorRefFrom, type AnyActorLogic, enqueueActions, type SnapshotFrom, setup } from 'xstate';
import { ConnectGate } from './connect-gate.js';
import type { GateEvent } from './connection-protocol.js';
import type { ReconnectPolicy } from './reconnect-policy.js';
import type { SessionCommand } from './session.machine.js';
import { type SessionDefaults, type SessionRef, sessionShardMachine } from './session-shard.machine.js';
import { type SessionView, sessionView } from './session-view.js';

export { sessionSystemId } from './session-shard.machine.js';

export interface SupervisorInput {
  /** Connects in flight at once (the gate). */
  maxConcurrentConnects: number;
  policy: ReconnectPolicy;
  random?: () => number;
  now?: () => number;
  connectTimeoutMs?: number;
  /** Session parents (see session-shard.machine.ts). Default 64. */
  shards?: number;
}

type ShardRef = ActorRefFrom<typeof sessionShardMachine>;

export interface SupervisorContext {
  input: SupervisorInput;
  /** Session `id` lives under `shards[shardOf(id, shards.length)]`. */
  shards: ShardRef[];
  gate: ConnectGate;
}

export type SupervisorEvent =
  | { type: 'supervisor.add'; sessionId: string; autoReconnect: boolean; start?: boolean }
  | { type: 'supervisor.remove'; sessionId: string }
  | { type: 'supervisor.command'; sessionId: string; command: SessionCommand }
  | { type: 'supervisor.shutdown' }
  | GateEvent;

export const DEFAULT_SHARDS = 64;

/** Which shard holds a session: FNV-1a of its id. */
export function shardOf(sessionId: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < sessionId.length; i++) {
    hash ^= sessionId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shards;
}

const shardFor = (context: SupervisorContext, sessionId: string) =>
  context.shards[shardOf(sessionId, context.shards.length)] as ShardRef;

/**
 * The root actor (systemId `supervisor`): it owns the session actors, through shards, routes
 * commands to them, and runs the connect gate. Session `<id>` has systemId `session:<id>`.
 */
export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as SupervisorInput,
  },
  actors: { shard: sessionShardMachine },
  actions: {
    routeToShard: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'supervisor.add') {
        const { sessionId, autoReconnect, start } = event;
        enqueue.sendTo(shardFor(context, sessionId), { type: 'shard.add', sessionId, autoReconnect, start });
      } else if (event.type === 'supervisor.remove') {
        enqueue.sendTo(shardFor(context, event.sessionId), {
          type: 'shard.remove',
          sessionId: event.sessionId,
        });
      } else if (event.type === 'supervisor.command') {
        const { sessionId, command } = event;
        enqueue.sendTo(shardFor(context, sessionId), { type: 'shard.command', sessionId, command });
      }
    }),
    acquireSlot: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'gate.acquire') return;
      if (context.gate.acquire(event.replyTo)) enqueue.sendTo(event.replyTo, { type: 'gate.granted' });
    }),
    releaseSlot: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'gate.release') return;
      // The freed slot goes to the longest waiting connection.
      for (const next of context.gate.release(event.replyTo)) enqueue.sendTo(next, { type: 'gate.granted' });
    }),
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input, spawn }) => {
    const defaults: SessionDefaults = {
      policy: input.policy,
      random: input.random,
      now: input.now,
      connectTimeoutMs: input.connectTimeoutMs,
    };
    return {
      input,
      shards: Array.from({ length: input.shards ?? DEFAULT_SHARDS }, (_, i) =>
        spawn('shard', { id: `shard:${i}`, input: defaults }),
      ),
      gate: new ConnectGate(input.maxConcurrentConnects),
    };
  },
  initial: 'running',
  states: {
    running: {
      on: {
        'supervisor.add': { actions: 'routeToShard' },
        'supervisor.remove': { actions: 'routeToShard' },
        'supervisor.command': { actions: 'routeToShard' },
        'gate.acquire': { actions: 'acquireSlot' },
        'gate.release': { actions: 'releaseSlot' },
        // Reaching the final state stops the shards and so every session actor, which closes each
        // socket (never a logout).
        'supervisor.shutdown': { target: 'stopped' },
      },
    },
    stopped: { type: 'final' },
  },
});

/** The supervisor with `logic` as the session actor (tests and src/ plug their connection in there). */
export function supervisorWithSessions(logic: AnyActorLogic) {
  return supervisorMachine.provide({
    actors: { shard: sessionShardMachine.provide({ actors: { session: logic as never } }) },
  });
}

export type SupervisorMachine = typeof supervisorMachine;

/** Every session actor the supervisor owns. */
export function sessionRefs(snapshot: SnapshotFrom<SupervisorMachine>): SessionRef[] {
  return snapshot.context.shards.flatMap((shard) => Object.values(shard.getSnapshot().context.sessions));
}

/** Views of every session the supervisor owns. */
export function sessionViews(snapshot: SnapshotFrom<SupervisorMachine>): SessionView[] {
  return sessionRefs(snapshot).map((ref) => sessionView(ref.getSnapshot()));
}

/** Connects holding a gate slot right now. */
export function gateInFlight(snapshot: SnapshotFrom<SupervisorMachine>): number {
  return snapshot.context.gate.inFlight;
}
