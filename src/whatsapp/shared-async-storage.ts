import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire, syncBuiltinESMExports } from 'node:module';

/*
 * Baileys 7.0.0-rc14 gives every socket its own AsyncLocalStorage (`addTransactionCapability`,
 * called from `makeSocket`), enabled at login by the first key transaction and never disabled.
 * On Node 20 each enabled storage is visited on every async resource the process creates (every
 * promise), and stays enabled after its socket is gone: a fleet's cost grows with the square of
 * the sockets ever made. Storages built here all live in one real AsyncLocalStorage whose store
 * is a small map from storage to value, so the process pays for one storage however many exist.
 */
type Frame = ReadonlyMap<object, unknown>;

const carrier = new AsyncLocalStorage<Frame>();
const EMPTY: Frame = new Map();
let created = 0;

/** An AsyncLocalStorage whose values live in one store shared with every other instance. */
export class SharedAsyncLocalStorage<T> extends AsyncLocalStorage<T> {
  #disabled = false;

  constructor() {
    super();
    created += 1;
  }

  override getStore(): T | undefined {
    if (this.#disabled) return undefined;
    return carrier.getStore()?.get(this) as T | undefined;
  }

  override run<R, TArgs extends unknown[]>(store: T, callback: (...args: TArgs) => R, ...args: TArgs): R {
    // Like Node's own: entering the value already current creates no context.
    if (!this.#disabled && Object.is(store, this.getStore())) return callback(...args);
    this.#disabled = false;
    return carrier.run(this.#with(store), callback, ...args);
  }

  override exit<R, TArgs extends unknown[]>(callback: (...args: TArgs) => R, ...args: TArgs): R {
    const frame = carrier.getStore();
    if (!frame?.has(this)) return callback(...args);
    const without = new Map(frame);
    without.delete(this);
    return carrier.run(without, callback, ...args);
  }

  override enterWith(store: T): void {
    this.#disabled = false;
    carrier.enterWith(this.#with(store));
  }

  /** As Node's: `getStore()` answers undefined until the next `run()` or `enterWith()`. */
  override disable(): void {
    this.#disabled = true;
  }

  #with(store: T): Frame {
    return new Map(carrier.getStore() ?? EMPTY).set(this, store);
  }
}

/** How many {@link SharedAsyncLocalStorage} instances this process has made (for tests and benchmarks). */
export function sharedAsyncStorageCount(): number {
  return created;
}

const asyncHooks = createRequire(import.meta.url)('node:async_hooks') as {
  AsyncLocalStorage: typeof AsyncLocalStorage;
};

/**
 * Runs `fn` (synchronously) while `AsyncLocalStorage` from `node:async_hooks`, for CommonJS and for
 * ES modules' named imports alike, is {@link SharedAsyncLocalStorage}; restores Node's class after.
 * Wrap `makeWASocket` in it so the socket's transaction storage joins the shared one.
 */
export function withSharedAsyncStorage<R>(fn: () => R): R {
  const original = asyncHooks.AsyncLocalStorage;
  asyncHooks.AsyncLocalStorage = SharedAsyncLocalStorage;
  // ES modules' `import { AsyncLocalStorage } from 'async_hooks'` bindings follow only after a sync.
  syncBuiltinESMExports();
  try {
    return fn();
  } finally {
    asyncHooks.AsyncLocalStorage = original;
    syncBuiltinESMExports();
  }
}
