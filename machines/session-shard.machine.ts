import { type ActorRefFrom, assign, enqueueActions, setup } from 'xstate';
import type { ReconnectPolicy } from './reconnect-policy.js';
import { type SessionCommand, sessionMachine } from './session.machine.js';

/** What every session of the fleet is spawned with, besides its id. */
export interface SessionDefaults {
  policy: ReconnectPolicy;
  random?: () => number;
  now?: () => number;
  connectTimeoutMs?: number;
}

export type SessionRef = ActorRefFrom<typeof sessionMachine>;

export interface ShardContext {
  defaults: SessionDefaults;
  sessions: Record<string, SessionRef>;
}

export type ShardEvent =
  | { type: 'shard.add'; sessionId: string; autoReconnect: boolean; start?: boolean }
  | { type: 'shard.remove'; sessionId: string }
  | { type: 'shard.command'; sessionId: string; command: SessionCommand };

/** systemId of a session actor. */
export const sessionSystemId = (sessionId: string) => `session:${sessionId}`;

/**
 * The parent of a slice of the fleet's session actors. XState copies an actor's children on every
 * spawn and on every stop, so one parent of N sessions costs O(N²) to fill and O(N²) to stop; the
 * supervisor spreads them over shards to keep each copy small (see supervisor.machine.ts).
 */
export const sessionShardMachine = setup({
  types: {
    context: {} as ShardContext,
    events: {} as ShardEvent,
    input: {} as SessionDefaults,
  },
  actors: { session: sessionMachine },
  guards: {
    isNewSession: ({ context, event }) => event.type === 'shard.add' && !context.sessions[event.sessionId],
    hasSession: ({ context, event }) =>
      (event.type === 'shard.remove' || event.type === 'shard.command') &&
      Boolean(context.sessions[event.sessionId]),
  },
  actions: {
    spawnSession: assign(({ context, event, spawn }) => {
      if (event.type !== 'shard.add') return {};
      const ref = spawn('session', {
        id: sessionSystemId(event.sessionId),
        systemId: sessionSystemId(event.sessionId),
        input: { ...context.defaults, sessionId: event.sessionId, autoReconnect: event.autoReconnect },
      });
      return { sessions: { ...context.sessions, [event.sessionId]: ref } };
    }),
    startIfAsked: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'shard.add' && event.start) {
        enqueue.sendTo(context.sessions[event.sessionId], { type: 'session.start' });
      }
    }),
    removeSession: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'shard.remove') return;
      enqueue.stopChild(context.sessions[event.sessionId]);
      const { [event.sessionId]: _removed, ...rest } = context.sessions;
      enqueue.assign({ sessions: rest });
    }),
    routeCommand: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'shard.command') return;
      enqueue.sendTo(context.sessions[event.sessionId], event.command);
    }),
  },
}).createMachine({
  id: 'sessionShard',
  context: ({ input }) => ({ defaults: input, sessions: {} }),
  on: {
    'shard.add': { guard: 'isNewSession', actions: ['spawnSession', 'startIfAsked'] },
    'shard.remove': { guard: 'hasSession', actions: 'removeSession' },
    'shard.command': { guard: 'hasSession', actions: 'routeCommand' },
  },
});

export type SessionShardMachine = typeof sessionShardMachine;
