import { createActor, fromCallback, type InspectionEvent, SimulatedClock } from 'xstate';
import type {
  ConnectionEvent,
  ConnectionInput,
  GateGrantedEvent,
} from '../../machines/connection-protocol.js';
import type { ReconnectPolicy } from '../../machines/reconnect-policy.js';
import { type SessionInput, sessionMachine } from '../../machines/session.machine.js';

export interface Invocation {
  at: number;
  attempt: number;
  stoppedAt: number | null;
  send: (event: ConnectionEvent) => void;
}

/** What a scripted connection does when invoked (the nth invocation, 1-based). */
export type Behaviour = (n: number, send: (event: ConnectionEvent) => void) => void;

/**
 * A session actor on a simulated clock with a scripted stand-in for the Baileys connection.
 * Only for pure machine tests: the real connector is tested against the simulator.
 */
export function scriptedSession(
  options: {
    behaviour?: Behaviour;
    policy?: ReconnectPolicy;
    autoReconnect?: boolean;
    random?: () => number;
    connectTimeoutMs?: number;
    inspect?: (event: InspectionEvent) => void;
  } = {},
) {
  const clock = new SimulatedClock();
  clock.set(1_000_000);
  const invocations: Invocation[] = [];
  const connection = fromCallback<GateGrantedEvent, ConnectionInput>(({ input, sendBack }) => {
    const invocation: Invocation = {
      at: clock.now(),
      attempt: input.attempt,
      stoppedAt: null,
      send: (event) => {
        if (invocation.stoppedAt === null) sendBack(event);
      },
    };
    invocations.push(invocation);
    options.behaviour?.(invocations.length, invocation.send);
    return () => {
      invocation.stoppedAt = clock.now();
    };
  });
  const input: SessionInput = {
    sessionId: '1',
    autoReconnect: options.autoReconnect ?? true,
    policy: options.policy ?? { delaysMs: [0, 30_000, 60_000, 120_000, 240_000, 480_000], jitter: 0 },
    random: options.random,
    now: () => clock.now(),
    connectTimeoutMs: options.connectTimeoutMs,
  };
  const actor = createActor(sessionMachine.provide({ actors: { connection } }), {
    clock,
    input,
    inspect: options.inspect,
  });
  actor.start();
  return {
    actor,
    clock,
    invocations,
    /** The live connection (the last one invoked). */
    get current(): Invocation {
      const last = invocations[invocations.length - 1];
      if (!last) throw new Error('no connection was invoked');
      return last;
    },
    /** Moves the clock forward in 1 s steps, so timers fire at their exact second. */
    advance(ms: number) {
      const end = clock.now() + ms;
      clock.set(clock.now());
      while (clock.now() < end) clock.set(Math.min(end, clock.now() + 1000));
    },
  };
}
