import { describe, expect, it } from 'vitest';
import { type AnyActorRef, createActor, fromCallback } from 'xstate';
import type { ConnectionInput, GateGrantedEvent } from '../machines/connection-protocol.js';
import { sessionMachine } from '../machines/session.machine.js';
import {
  DEFAULT_SHARDS,
  gateInFlight,
  sessionViews,
  shardOf,
  supervisorWithSessions,
} from '../machines/supervisor.machine.js';

/** A stand-in connection that speaks the gate protocol and opens only when the test says so. */
function gatedSupervisor(limit: number) {
  const live = new Map<string, { granted: boolean; opened: boolean; open: () => void; stopped: boolean }>();
  const connection = fromCallback<GateGrantedEvent, ConnectionInput>(
    ({ input, sendBack, receive, self, system }) => {
      const gate = system.get('supervisor') as AnyActorRef;
      const entry = {
        granted: false,
        opened: false,
        stopped: false,
        open: () => sendBack({ type: 'client.open' }),
      };
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        gate.send({ type: 'gate.release', sessionId: input.sessionId, replyTo: self });
      };
      entry.open = () => {
        if (!entry.granted) throw new Error(`session ${input.sessionId} dialled without a gate slot`);
        entry.opened = true;
        release();
        sendBack({ type: 'client.open' });
      };
      live.set(input.sessionId, entry);
      receive((event) => {
        if (event.type === 'gate.granted') entry.granted = true;
      });
      gate.send({ type: 'gate.acquire', sessionId: input.sessionId, replyTo: self });
      return () => {
        entry.stopped = true;
        if (gate.getSnapshot().status === 'active') release();
      };
    },
  );
  const machine = supervisorWithSessions(sessionMachine.provide({ actors: { connection } }));
  const actor = createActor(machine, {
    systemId: 'supervisor',
    input: { maxConcurrentConnects: limit, policy: { delaysMs: [0, 1000], jitter: 0 } },
  });
  actor.start();
  const granted = () => [...live.values()].filter((e) => e.granted && !e.opened && !e.stopped).length;
  return { actor, live, granted };
}

describe('supervisor machine', () => {
  it('spawns session actors under systemId session:<id> and routes commands to them', () => {
    const { actor, live } = gatedSupervisor(5);
    actor.send({ type: 'supervisor.add', sessionId: '7', autoReconnect: true });
    const session = actor.system.get('session:7');
    expect(session).toBeDefined();
    expect(sessionViews(actor.getSnapshot())).toMatchObject([{ sessionId: '7', status: 'idle' }]);

    actor.send({ type: 'supervisor.command', sessionId: '7', command: { type: 'session.start' } });
    expect(live.has('7')).toBe(true);
    live.get('7')?.open();
    expect(sessionViews(actor.getSnapshot())).toMatchObject([{ sessionId: '7', status: 'connected' }]);

    // Adding the same id twice does not replace the live actor.
    actor.send({ type: 'supervisor.add', sessionId: '7', autoReconnect: true });
    expect(actor.system.get('session:7')).toBe(session);
  });

  it('never lets more connects than the gate allows be in flight, and hands slots on in order', () => {
    const { actor, live, granted } = gatedSupervisor(3);
    for (let i = 1; i <= 10; i++) {
      actor.send({ type: 'supervisor.add', sessionId: String(i), autoReconnect: true, start: true });
    }
    expect(live.size).toBe(10);
    expect(granted()).toBe(3);
    expect(gateInFlight(actor.getSnapshot())).toBe(3);
    expect(['1', '2', '3'].every((id) => live.get(id)?.granted)).toBe(true);

    live.get('2')?.open();
    expect(live.get('4')?.granted).toBe(true);
    expect(live.get('5')?.granted).toBe(false);
    expect(gateInFlight(actor.getSnapshot())).toBe(3);

    for (const i of [1, 3, 4, 5, 6, 7, 8, 9, 10]) {
      expect(granted()).toBeLessThanOrEqual(3);
      live.get(String(i))?.open(); // throws if it never got a slot
    }
    expect(sessionViews(actor.getSnapshot()).every((v) => v.status === 'connected')).toBe(true);
    expect(gateInFlight(actor.getSnapshot())).toBe(0);
    expect(actor.getSnapshot().context.gate.maxInFlight).toBe(3);
  });

  it('frees the slot of a session removed while it waits or dials', () => {
    const { actor, live } = gatedSupervisor(1);
    actor.send({ type: 'supervisor.add', sessionId: 'a', autoReconnect: true, start: true });
    actor.send({ type: 'supervisor.add', sessionId: 'b', autoReconnect: true, start: true });
    actor.send({ type: 'supervisor.add', sessionId: 'c', autoReconnect: true, start: true });
    expect(live.get('a')?.granted).toBe(true);

    actor.send({ type: 'supervisor.remove', sessionId: 'b' }); // waiting
    actor.send({ type: 'supervisor.remove', sessionId: 'a' }); // dialing
    expect(live.get('a')?.stopped).toBe(true);
    expect(live.get('c')?.granted).toBe(true);
    expect(actor.system.get('session:a')).toBeUndefined();
    expect(sessionViews(actor.getSnapshot()).map((v) => v.sessionId)).toEqual(['c']);
  });

  it('stops every session, closing each connection, on shutdown', () => {
    const { actor, live } = gatedSupervisor(10);
    for (const id of ['1', '2', '3']) {
      actor.send({ type: 'supervisor.add', sessionId: id, autoReconnect: true, start: true });
      live.get(id)?.open();
    }
    actor.send({ type: 'supervisor.shutdown' });
    expect(actor.getSnapshot().status).toBe('done');
    expect([...live.values()].every((e) => e.stopped)).toBe(true);
  });
});

describe('supervisor shards', () => {
  it('spreads sessions over its shards, so no parent holds the whole fleet, and still stops them all', () => {
    const { actor, live } = gatedSupervisor(2_000);
    const ids = Array.from({ length: 1_280 }, (_, i) => String(i + 1));
    for (const id of ids)
      actor.send({ type: 'supervisor.add', sessionId: id, autoReconnect: true, start: true });
    const snapshot = actor.getSnapshot();
    // The supervisor's own children are the 64 shards; XState copies a parent's children on every
    // spawn and stop, so this bounds those copies by a shard's size, not the fleet's.
    expect(Object.keys(snapshot.children)).toHaveLength(DEFAULT_SHARDS);
    const sizes = snapshot.context.shards.map((s) => Object.keys(s.getSnapshot().children).length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(ids.length);
    expect(Math.max(...sizes)).toBeLessThan(3 * (ids.length / DEFAULT_SHARDS));
    expect(ids.every((id) => actor.system.get(`session:${id}`) !== undefined)).toBe(true);
    expect(sessionViews(snapshot)).toHaveLength(ids.length);

    actor.send({ type: 'supervisor.remove', sessionId: '7' });
    expect(actor.system.get('session:7')).toBeUndefined();
    expect(live.get('7')?.stopped).toBe(true);

    actor.send({ type: 'supervisor.shutdown' });
    expect([...live.values()].every((e) => e.stopped)).toBe(true);
    expect(ids.every((id) => actor.system.get(`session:${id}`) === undefined)).toBe(true);
  });

  it('places a session by its id alone', () => {
    expect(shardOf('42', 64)).toBe(shardOf('42', 64));
    const counts = new Array(8).fill(0);
    for (let i = 0; i < 8_000; i++) counts[shardOf(String(i), 8)]++;
    expect(Math.min(...counts)).toBeGreaterThan(800);
  });
});
