import pino, { type Logger } from 'pino';
import type { SessionTransition } from '../../machines/transition.js';
import { type Supervisor, startSupervisor } from '../../src/supervisor.js';
import { type AuthStateStore, createMemoryAuthStore } from '../../src/whatsapp/auth-store.js';
import { hardenBaileys } from '../../src/whatsapp/baileys-hardening.js';
import { createConnectionLogic } from '../../src/whatsapp/connection.js';
import { startWaSim, type WaSim, type WaSimOptions } from './wa-sim/index.js';

export interface Harness {
  sim: WaSim;
  supervisor: Supervisor;
  authStore: AuthStateStore;
  transitions: SessionTransition[];
  close(): Promise<void>;
}

/**
 * The daemon's session core (supervisor, session machines, the Baileys connector) against a
 * simulator on loopback, with short reconnect delays. The simulator's root key is trusted
 * through the same hardening call the daemon makes at start-up.
 */
export async function startHarness(
  options: {
    delaysMs?: number[];
    maxConcurrentConnects?: number;
    sim?: WaSimOptions;
    authStore?: AuthStateStore;
    trustSimRoot?: boolean;
    socketConfig?: Parameters<typeof createConnectionLogic>[0]['socketConfig'];
    /** The session's proxy at each connect (default: none). */
    resolveProxy?: (sessionId: string) => Promise<string | null>;
    /** Instead of the simulator's own URL (e.g. a host name only a proxy resolves). */
    waWebSocketUrl?: (sim: WaSim) => string;
    logger?: Logger;
  } = {},
): Promise<Harness> {
  const logger = options.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const sim = await startWaSim(options.sim);
  hardenBaileys({
    noiseRootPublicKeyHex: options.trustSimRoot === false ? undefined : sim.rootPublicKeyHex,
    logger,
  });
  const authStore = options.authStore ?? createMemoryAuthStore();
  const transitions: SessionTransition[] = [];
  const supervisor = startSupervisor({
    logger,
    connection: createConnectionLogic({
      authStore,
      logger,
      waWebSocketUrl: options.waWebSocketUrl?.(sim) ?? sim.url,
      socketConfig: { connectTimeoutMs: 5_000, defaultQueryTimeoutMs: 5_000, ...options.socketConfig },
      resolveProxy: options.resolveProxy,
    }),
    policy: { delaysMs: options.delaysMs ?? [0, 100, 200, 400], jitter: 0 },
    maxConcurrentConnects: options.maxConcurrentConnects ?? 25,
    onTransition: (t) => transitions.push(t),
  });
  return {
    sim,
    supervisor,
    authStore,
    transitions,
    async close() {
      supervisor.shutdown();
      await sim.close();
    },
  };
}

/** Stores creds that look already paired (`creds.me` set), so the next connect is a login. */
export async function seedPairedCreds(
  store: AuthStateStore,
  sessionId: string,
  phone: string,
): Promise<string> {
  const { state, saveCreds } = await store.open(sessionId);
  state.creds.me = { id: `${phone}:1@s.whatsapp.net`, name: `device ${sessionId}` };
  await saveCreds();
  return Buffer.from(state.creds.noiseKey.public).toString('hex');
}
