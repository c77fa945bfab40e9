// One variant of connect-many in a fresh process: its RSS and heap start from nothing but the
// modules, the hardening and the stored creds. Forked by connect-many.ts; answers over IPC.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import makeWASocket, { makeCacheableSignalKeyStore, type SocketConfig } from '@whiskeysockets/baileys';
import { type LevelWithSilent, pino } from 'pino';
import { DEFAULT_RECONNECT_POLICY } from '../machines/reconnect-policy.js';
import { startSupervisor } from '../src/supervisor.js';
import { hardenBaileys } from '../src/whatsapp/baileys-hardening.js';
import { createConnectionLogic } from '../src/whatsapp/connection.js';
import { sharedAsyncStorageCount, withSharedAsyncStorage } from '../src/whatsapp/shared-async-storage.js';
import { inSocketContext } from '../src/whatsapp/socket-timers.js';
import { createSeededAuthStore } from './seeded-auth-store.js';

export interface VariantRequest {
  /** `supervisor`, or `bare` with optional `+shared` (shared AsyncLocalStorage) and `+timers` (socket-timers hook). */
  variant: string;
  sessions: number;
  url: string;
  rootPublicKeyHex: string;
  /** JSON array of BufferJSON-encoded creds, one per session. */
  credsFile: string;
  deadlineMs: number;
  settleMs: number;
  gate: number;
  logLevel: LevelWithSilent;
  /** false: turn off the source-mapped stack traces tsx enables (as when running compiled JS) */
  sourceMaps: boolean;
}

export interface VariantResult {
  variant: string;
  sessions: number;
  opened: number;
  failures: number;
  /** start → last session open; null when some never opened before the deadline */
  wallMs: number | null;
  openMs: { p50: number; p90: number; max: number } | null;
  /** how long starting every session took (synchronous: adding to the supervisor, or calling dial) */
  beginMs: number;
  /** process CPU (user + system) from start until all open or the deadline */
  cpuMs: number;
  /** process CPU during the settle window after that (idle cost of the open fleet) */
  settleCpuMs: number;
  /** how long stopping every session took, synchronously (supervisor shutdown, or end() on each socket) */
  stopMs: number;
  loopDelayMs: { p99: number; max: number };
  baseline: MemoryFigures;
  after: MemoryFigures;
  rssPerSessionKB: number;
  heapPerSessionKB: number;
  gcExposed: boolean;
  sharedStorages: number;
  unhandledRejections: number;
  /** 1-minute load average at start and end: other work on the machine skews wall times */
  loadAverage: [number, number];
}

interface MemoryFigures {
  rss: number;
  heapUsed: number;
  external: number;
}

// The daemon's socket options (src/whatsapp/connection.ts), so both variants build the same socket.
const FLEET_DEFAULTS: Partial<SocketConfig> = {
  markOnlineOnConnect: false,
  syncFullHistory: false,
  printQRInTerminal: false,
  generateHighQualityLinkPreview: false,
};
const PERMANENT_CODES = new Set([401, 403, 411, 440]);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function memory(): Promise<MemoryFigures> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    await sleep(50);
    gc();
  }
  const { rss, heapUsed, external } = process.memoryUsage();
  return { rss, heapUsed, external };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** A counting semaphore: the bare variant's stand-in for the supervisor's connect gate. */
function createGate(size: number) {
  let free = size;
  const waiting: (() => void)[] = [];
  return {
    acquire: (): Promise<void> => {
      if (free > 0) {
        free -= 1;
        return Promise.resolve();
      }
      return new Promise((resolve) => waiting.push(resolve));
    },
    release(): void {
      const next = waiting.shift();
      if (next) next();
      else free += 1;
    },
  };
}

async function run(req: VariantRequest): Promise<VariantResult> {
  process.setSourceMapsEnabled(req.sourceMaps);
  const logger = pino({ level: req.logLevel }, pino.destination({ dest: '/dev/null', sync: false }));
  hardenBaileys({ noiseRootPublicKeyHex: req.rootPublicKeyHex, logger: pino({ level: 'silent' }) });

  const encoded = JSON.parse(readFileSync(req.credsFile, 'utf8')) as string[];
  if (encoded.length < req.sessions) throw new Error(`creds file has ${encoded.length} < ${req.sessions}`);
  const ids = Array.from({ length: req.sessions }, (_, i) => `s${i}`);
  // Both variants keep creds in the same store (serialised strings) and parse them per dial.
  const store = createSeededAuthStore(new Map(ids.map((id, i) => [id, encoded[i]])));

  const openedAt = new Map<string, number>();
  let started = 0;
  let allOpen: () => void = () => undefined;
  const allOpened = new Promise<void>((resolve) => {
    allOpen = resolve;
  });
  const markOpen = (id: string) => {
    if (openedAt.has(id)) return;
    openedAt.set(id, performance.now() - started);
    if (openedAt.size === req.sessions) allOpen();
  };

  let begin: () => void;
  let stop: () => void;
  if (req.variant === 'supervisor') {
    const supervisor = startSupervisor({
      logger,
      connection: createConnectionLogic({ authStore: store, logger, waWebSocketUrl: req.url }),
      policy: DEFAULT_RECONNECT_POLICY,
      maxConcurrentConnects: req.gate,
      onTransition: (t) => {
        if (t.to === 'connected') markOpen(t.sessionId);
      },
    });
    begin = () => {
      for (const id of ids) supervisor.add(id, { autoReconnect: true, start: true });
    };
    stop = () => supervisor.shutdown();
  } else {
    const [base, ...extras] = req.variant.split('+');
    if (base !== 'bare' || extras.some((e) => e !== 'shared' && e !== 'timers')) {
      throw new Error(`unknown variant ${req.variant}`);
    }
    const gate = createGate(req.gate);
    const sockets = new Set<ReturnType<typeof makeWASocket>>();
    let stopping = false;
    const build = (config: Parameters<typeof makeWASocket>[0]) => {
      let make = () => makeWASocket(config);
      if (extras.includes('shared')) {
        const inner = make;
        make = () => withSharedAsyncStorage(inner);
      }
      if (extras.includes('timers')) {
        const inner = make;
        make = () => inSocketContext(inner);
      }
      return make();
    };
    // Plain Baileys usage: memory auth state, save creds on update, reconnect on close (same delays).
    const dial = async (id: string, attempt: number): Promise<void> => {
      await gate.acquire();
      const { state, saveCreds } = await store.open(id);
      const sock = build({
        ...FLEET_DEFAULTS,
        waWebSocketUrl: req.url,
        logger: logger.child({ session_id: id }, { level: 'warn' }),
        auth: { creds: state.creds, keys: makeCacheableSignalKeyStore(state.keys, logger) },
      });
      sockets.add(sock);
      let held = true;
      const release = () => {
        if (held) gate.release();
        held = false;
      };
      sock.ev.on('creds.update', saveCreds);
      sock.ev.on('connection.update', (update) => {
        if (update.connection === 'open') {
          release();
          markOpen(id);
        }
        if (update.connection === 'close') {
          release();
          sockets.delete(sock);
          if (stopping) return;
          const error = update.lastDisconnect?.error as { output?: { statusCode?: number } } | undefined;
          if (PERMANENT_CODES.has(error?.output?.statusCode ?? 0)) return;
          const delays = DEFAULT_RECONNECT_POLICY.delaysMs;
          if (attempt >= delays.length) return;
          setTimeout(() => void dial(id, attempt + 1), delays[attempt]);
        }
      });
    };
    begin = () => {
      for (const id of ids) void dial(id, 0);
    };
    stop = () => {
      stopping = true;
      for (const sock of sockets) sock.end(undefined);
    };
  }

  const baseline = await memory();
  const load0 = loadavg()[0];
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const cpu0 = process.cpuUsage();
  started = performance.now();
  let deadlineTimer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    deadlineTimer = setTimeout(resolve, req.deadlineMs);
  });
  begin();
  const beginMs = performance.now() - started;
  await Promise.race([allOpened, deadline]);
  clearTimeout(deadlineTimer);
  const connectCpu = process.cpuUsage(cpu0);
  loop.disable();
  const opened = openedAt.size;
  const times = [...openedAt.values()].sort((a, b) => a - b);

  const cpu1 = process.cpuUsage();
  await sleep(req.settleMs);
  const settleCpu = process.cpuUsage(cpu1);
  const after = await memory();
  const stopStarted = performance.now();
  stop();
  const stopMs = Math.round(performance.now() - stopStarted);

  const kb = (bytes: number) => Math.round(bytes / req.sessions / 1024);
  return {
    variant: req.variant,
    sessions: req.sessions,
    opened,
    failures: req.sessions - opened,
    wallMs: opened === req.sessions ? Math.round(times[times.length - 1]) : null,
    openMs: times.length
      ? {
          p50: Math.round(percentile(times, 50)),
          p90: Math.round(percentile(times, 90)),
          max: Math.round(times[times.length - 1]),
        }
      : null,
    beginMs: Math.round(beginMs),
    cpuMs: Math.round((connectCpu.user + connectCpu.system) / 1000),
    settleCpuMs: Math.round((settleCpu.user + settleCpu.system) / 1000),
    stopMs,
    loopDelayMs: {
      p99: Math.round(loop.percentile(99) / 1e6),
      max: Math.round(loop.max / 1e6),
    },
    baseline,
    after,
    rssPerSessionKB: kb(after.rss - baseline.rss),
    heapPerSessionKB: kb(after.heapUsed - baseline.heapUsed),
    gcExposed: typeof (globalThis as { gc?: unknown }).gc === 'function',
    sharedStorages: sharedAsyncStorageCount(),
    unhandledRejections,
    loadAverage: [load0, loadavg()[0]],
  };
}

// Counted rather than fatal: a bench run should report them, not die of the first.
let unhandledRejections = 0;
process.on('unhandledRejection', () => {
  unhandledRejections += 1;
});

process.once('message', (req: VariantRequest) => {
  run(req).then(
    (result) => process.send?.({ ok: true, result }, () => process.exit(0)),
    (err: unknown) =>
      process.send?.({ ok: false, error: err instanceof Error ? err.stack : String(err) }, () =>
        process.exit(1),
      ),
  );
});
process.on('disconnect', () => process.exit(0));
