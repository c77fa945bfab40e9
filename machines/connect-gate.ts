import type { AnyActorRef } from 'xstate';

/**
 * The connect gate's bookkeeping: at most `limit` connects hold a slot, the rest wait in order.
 * Every operation is O(1).
 *
 * It is the one mutable object in the supervisor's context. As immutable arrays, every acquire
 * and every release copied the whole waiting list, so a fleet of N sessions starting at once cost
 * O(N²): a measurable share of the supervisor's overhead at 2,000 sessions (bench/README.md). Only
 * the supervisor's own actions change it, once per event, so its state still follows the event
 * sequence exactly.
 */
export class ConnectGate {
  readonly limit: number;
  /** The most connects that have held a slot at once. */
  maxInFlight = 0;
  private readonly holding = new Set<AnyActorRef>();
  /** Insertion order is the queue order; removal of any entry is O(1). */
  private readonly waiting = new Set<AnyActorRef>();

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new Error(`gate limit must be a positive integer, got ${limit}`);
    this.limit = limit;
  }

  get inFlight(): number {
    return this.holding.size;
  }

  get queued(): number {
    return this.waiting.size;
  }

  /** @returns true when `ref` holds a slot now; false when it waits for one. */
  acquire(ref: AnyActorRef): boolean {
    if (this.holding.has(ref)) return true;
    if (this.holding.size < this.limit) {
      this.waiting.delete(ref);
      this.grant(ref);
      return true;
    }
    this.waiting.add(ref);
    return false;
  }

  /**
   * Frees `ref`'s slot, or its place in the queue.
   * @returns the waiting connects that now hold a slot, longest waiting first.
   */
  release(ref: AnyActorRef): AnyActorRef[] {
    this.waiting.delete(ref);
    if (!this.holding.delete(ref)) return [];
    const granted: AnyActorRef[] = [];
    for (const next of this.waiting) {
      if (this.holding.size >= this.limit) break;
      this.waiting.delete(next);
      this.grant(next);
      granted.push(next);
    }
    return granted;
  }

  private grant(ref: AnyActorRef): void {
    this.holding.add(ref);
    this.maxInFlight = Math.max(this.maxInFlight, this.holding.size);
  }
}
