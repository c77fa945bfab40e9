import { AsyncLocalStorage, executionAsyncResource } from 'node:async_hooks';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { addTransactionCapability, type SignalDataSet, type SignalKeyStore } from '@whiskeysockets/baileys';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { createMemoryAuthStore } from '../src/whatsapp/auth-store.js';
import { hardenBaileys } from '../src/whatsapp/baileys-hardening.js';
import { createConnectionLogic } from '../src/whatsapp/connection.js';
import {
  SharedAsyncLocalStorage,
  sharedAsyncStorageCount,
  withSharedAsyncStorage,
} from '../src/whatsapp/shared-async-storage.js';
import { seedPairedCreds } from './support/daemon-harness.js';
import { makeMemoryKeyStore } from './support/memory-auth.js';
import { startWaSim, type WaSim } from './support/wa-sim/index.js';

const logger = pino({ level: 'silent' });
const nodeAsyncHooks = createRequire(import.meta.url)('node:async_hooks') as {
  AsyncLocalStorage: typeof AsyncLocalStorage;
};

/**
 * How many real AsyncLocalStorages are enabled in this process: on Node 20 and 22 each one stamps
 * its own symbol on every async resource created after it.
 */
async function realStoragesStamped(): Promise<number> {
  await null;
  return Object.getOwnPropertySymbols(executionAsyncResource()).length;
}

// Node 24 keeps async context in frames instead; there storages cost nothing per resource to count.
const stampsResources = await (async () => {
  const before = await realStoragesStamped();
  new AsyncLocalStorage().run(true, () => undefined);
  return (await realStoragesStamped()) > before;
})();

/** Baileys' transaction layer over a key store, built the way `makeSocket` builds it. */
function transactional(store: SignalKeyStore) {
  return addTransactionCapability(store, logger, { maxCommitRetries: 1, delayBetweenTriesMs: 1 });
}

function recordingStore() {
  const inner = makeMemoryKeyStore();
  const writes: SignalDataSet[] = [];
  const store: SignalKeyStore = {
    get: (type, ids) => inner.get(type, ids),
    set: (data) => {
      writes.push(data);
      return inner.set(data);
    },
  };
  return { store, writes };
}

const session = (id: string) => ({ [id]: { id, session: 'x' } }) as unknown as SignalDataSet['session'];

describe('SharedAsyncLocalStorage', () => {
  it('keeps each instance’s value apart across awaits and timers', async () => {
    const a = new SharedAsyncLocalStorage<string>();
    const b = new SharedAsyncLocalStorage<string>();
    await a.run('a1', async () => {
      await b.run('b1', async () => {
        await sleep(5);
        expect([a.getStore(), b.getStore()]).toEqual(['a1', 'b1']);
        await new Promise<void>((resolve) =>
          setTimeout(() => {
            expect([a.getStore(), b.getStore()]).toEqual(['a1', 'b1']);
            resolve();
          }, 1),
        );
      });
      await a.run('a2', async () => {
        await null;
        expect([a.getStore(), b.getStore()]).toEqual(['a2', undefined]);
      });
      expect([a.getStore(), b.getStore()]).toEqual(['a1', undefined]);
    });
    expect(a.getStore()).toBeUndefined();
  });

  it('exit() hides only its own value; disable() hides it until the next run()', async () => {
    const a = new SharedAsyncLocalStorage<number>();
    const b = new SharedAsyncLocalStorage<number>();
    a.run(1, () =>
      b.run(2, () => {
        a.exit(() => expect([a.getStore(), b.getStore()]).toEqual([undefined, 2]));
        expect(a.getStore()).toBe(1);
        a.disable();
        expect([a.getStore(), b.getStore()]).toEqual([undefined, 2]);
        a.run(3, () => expect(a.getStore()).toBe(3));
      }),
    );
  });
});

describe('withSharedAsyncStorage', () => {
  it('hands Baileys’ ES-module import the shared class, and restores Node’s after (also on throw)', () => {
    const original = nodeAsyncHooks.AsyncLocalStorage;
    const before = sharedAsyncStorageCount();
    withSharedAsyncStorage(() => transactional(makeMemoryKeyStore()));
    expect(sharedAsyncStorageCount()).toBe(before + 1);

    expect(() =>
      withSharedAsyncStorage(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(nodeAsyncHooks.AsyncLocalStorage).toBe(original);
    expect(AsyncLocalStorage).toBe(original);
    transactional(makeMemoryKeyStore());
    expect(sharedAsyncStorageCount()).toBe(before + 1);
  });

  it('keeps keys.transaction semantics: cached writes, one commit for nested work, stores isolated', async () => {
    const one = recordingStore();
    const two = recordingStore();
    const [a, b] = withSharedAsyncStorage(() => [transactional(one.store), transactional(two.store)]);

    await a.transaction(async () => {
      await a.set({ session: session('1') });
      expect(await a.get('session', ['1'])).toHaveProperty('1');
      await sleep(1);
      await a.transaction(async () => {
        await a.set({ session: session('2') });
        expect(a.isInTransaction()).toBe(true);
      }, 'other-key');
      expect(one.writes).toHaveLength(0);
      // The other store's work runs outside any transaction and writes at once.
      expect(b.isInTransaction()).toBe(false);
      await b.set({ session: session('3') });
      expect(two.writes).toHaveLength(1);
    }, 'key');

    expect(a.isInTransaction()).toBe(false);
    expect(one.writes).toEqual([{ session: { ...session('1'), ...session('2') } }]);
    // A transaction that throws commits nothing.
    const failing = a.transaction(async () => {
      await a.set({ session: session('4') });
      throw new Error('no');
    }, 'key');
    await expect(failing).rejects.toThrow('no');
    expect(one.writes).toHaveLength(1);
  });

  it.skipIf(!stampsResources)(
    'enables one real AsyncLocalStorage however many key stores transact',
    async () => {
      const stampedBefore = await realStoragesStamped();
      const stores = withSharedAsyncStorage(() =>
        Array.from({ length: 50 }, () => transactional(makeMemoryKeyStore())),
      );
      await Promise.all(
        stores.map((keys) => keys.transaction(async () => keys.set({ session: session('1') }), 'k')),
      );
      expect(await realStoragesStamped()).toBeLessThanOrEqual(stampedBefore + 1);

      // Control: Baileys' own storages, one stamp each.
      const own = Array.from({ length: 5 }, () => transactional(makeMemoryKeyStore()));
      await Promise.all(
        own.map((keys) => keys.transaction(async () => keys.set({ session: session('1') }), 'k')),
      );
      expect(await realStoragesStamped()).toBeGreaterThanOrEqual(stampedBefore + 5);
    },
  );
});

describe('the connection actor', () => {
  let sim: WaSim;

  beforeAll(async () => {
    sim = await startWaSim();
    hardenBaileys({ logger, noiseRootPublicKeyHex: sim.rootPublicKeyHex });
  });

  afterAll(async () => {
    await sim?.close();
    hardenBaileys({ logger });
  });

  it('builds each socket’s transaction storage on the shared one, and logs in', async () => {
    const authStore = createMemoryAuthStore();
    const before = sharedAsyncStorageCount();
    const logic = createConnectionLogic({
      authStore,
      logger,
      waWebSocketUrl: sim.url,
      socketConfig: { connectTimeoutMs: 5_000, defaultQueryTimeoutMs: 5_000 },
    });
    const actors = await Promise.all(
      ['1', '2'].map(async (id) => {
        await seedPairedCreds(authStore, id, `551190000000${id}`);
        return createActor(logic, { input: { sessionId: id, attempt: 0 } }).start();
      }),
    );
    try {
      await sim.waitFor(() => sim.connections().filter((c) => c.phase === 'open').length === 2, 10_000);
      expect(sharedAsyncStorageCount()).toBe(before + 2);
    } finally {
      for (const actor of actors) actor.stop();
    }
  });
});
