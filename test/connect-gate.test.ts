import { describe, expect, it } from 'vitest';
import { type AnyActorRef, createActor, fromCallback } from 'xstate';
import { ConnectGate } from '../machines/connect-gate.js';

const refs = (n: number): AnyActorRef[] =>
  Array.from({ length: n }, () => createActor(fromCallback(() => {})));

describe('ConnectGate', () => {
  it('grants up to the limit, queues the rest, and hands freed slots on in arrival order', () => {
    const gate = new ConnectGate(2);
    const [a, b, c, d, e] = refs(5) as [AnyActorRef, AnyActorRef, AnyActorRef, AnyActorRef, AnyActorRef];
    expect([a, b, c, d].map((r) => gate.acquire(r))).toEqual([true, true, false, false]);
    expect(gate.inFlight).toBe(2);
    expect(gate.queued).toBe(2);
    expect(gate.release(b)).toEqual([c]);
    expect(gate.acquire(e)).toBe(false);
    expect(gate.release(a)).toEqual([d]);
    expect(gate.release(c)).toEqual([e]);
    expect(gate.release(d)).toEqual([]);
    expect(gate.release(e)).toEqual([]);
    expect(gate.inFlight).toBe(0);
    expect(gate.maxInFlight).toBe(2);
  });

  it('drops a waiting connect that gives up, and ignores a second acquire or an unknown release', () => {
    const gate = new ConnectGate(1);
    const [a, b, c] = refs(3) as [AnyActorRef, AnyActorRef, AnyActorRef];
    gate.acquire(a);
    gate.acquire(b);
    gate.acquire(c);
    expect(gate.release(b)).toEqual([]); // b was waiting: it leaves the queue, no slot moves
    expect(gate.queued).toBe(1);
    expect(gate.acquire(a)).toBe(true); // already holding
    expect(gate.inFlight).toBe(1);
    expect(gate.release(a)).toEqual([c]);
    expect(gate.release(a)).toEqual([]);
    expect(gate.inFlight).toBe(1);
  });

  it('keeps O(1) work per call with thousands waiting', () => {
    const gate = new ConnectGate(25);
    const all = refs(20_000);
    for (const r of all) gate.acquire(r);
    let granted = 0;
    for (const r of all) granted += gate.release(r).length;
    expect(granted).toBe(20_000 - 25);
    expect(gate.inFlight + gate.queued).toBe(0);
  });

  it('refuses a limit that is not a positive integer', () => {
    expect(() => new ConnectGate(0)).toThrow(/positive integer/);
    expect(() => new ConnectGate(1.5)).toThrow(/positive integer/);
  });
});
