// What one `await` costs once k Baileys key stores have run a transaction, with Baileys' own
// AsyncLocalStorage per store, with the shared one (src/whatsapp/shared-async-storage.ts), and
// with the shared one plus the socket-timers async hook (src/whatsapp/socket-timers.ts).
// Each mode runs in its own process: an AsyncLocalStorage that has run stays enabled for good.
// Usage: node --import tsx bench/async-storage-cost.ts
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { addTransactionCapability } from '@whiskeysockets/baileys';
import { pino } from 'pino';
import { withSharedAsyncStorage } from '../src/whatsapp/shared-async-storage.js';
import { inSocketContext } from '../src/whatsapp/socket-timers.js';
import { makeMemoryKeyStore } from '../test/support/memory-auth.js';

const STEPS = [0, 10, 100, 1000];
const CHUNK = 1_000;
const MODES = ['own', 'shared', 'shared+timers'] as const;
type Mode = (typeof MODES)[number];
const mode = process.env.ASYNC_STORAGE_MODE as Mode | undefined;

/** Best of three runs of at least 250 ms each: the quietest figure on a busy machine. */
async function nsPerAwait(): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let run = 0; run < 3; run++) {
    let awaits = 0;
    const t0 = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < 250e6) {
      for (let i = 0; i < CHUNK; i++) await Promise.resolve(i);
      awaits += CHUNK;
      elapsed = Number(process.hrtime.bigint() - t0);
    }
    best = Math.min(best, elapsed / awaits);
  }
  return best;
}

async function measure(which: Mode): Promise<number[]> {
  const shared = which !== 'own';
  // The daemon builds sockets in the socket context, which enables the timer-unref hook.
  if (which === 'shared+timers') inSocketContext(() => undefined);
  const logger = pino({ level: 'silent' });
  const make = () =>
    addTransactionCapability(makeMemoryKeyStore(), logger, { maxCommitRetries: 1, delayBetweenTriesMs: 1 });
  const stores: ReturnType<typeof make>[] = [];
  const out: number[] = [];
  for (const k of STEPS) {
    while (stores.length < k) {
      const keys = shared ? withSharedAsyncStorage(make) : make();
      // What a login does (lid-mapping): one transaction, which enables the store's storage.
      await keys.transaction(async () => keys.set({ 'lid-mapping': { a: 'b' } }), 'lid-mapping');
      stores.push(keys);
    }
    out.push(await nsPerAwait());
  }
  return out;
}

function runMode(which: Mode): Promise<number[]> {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const child = fork(fileURLToPath(import.meta.url), [], {
    execArgv: ['--import', tsx],
    env: { ...process.env, ASYNC_STORAGE_MODE: which },
  });
  return new Promise((resolve, reject) => {
    child.once('message', (figures: number[]) => resolve(figures));
    child.once('exit', (code) => reject(new Error(`${which}: exited ${code} without figures`)));
  });
}

if (mode) {
  const figures = await measure(mode);
  process.send?.(figures, () => process.exit(0));
} else {
  const figures: number[][] = [];
  for (const which of MODES) figures.push(await runMode(which));
  console.log(`async-storage-cost: node ${process.version}, best of 3 × ≥250 ms of awaits per cell\n`);
  console.log(
    `| key stores that ran a transaction | ${MODES.map((m) => `ns per await, ${m}`).join(' | ')} |`,
  );
  console.log(`| --- | ${MODES.map(() => '---').join(' | ')} |`);
  STEPS.forEach((k, i) => {
    console.log(`| ${k} | ${figures.map((f) => Math.round(f[i])).join(' | ')} |`);
  });
}
