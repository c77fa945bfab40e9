// Helpers shared by the fleet benchmarks: cached paired creds, percentiles, an in-process
// supervisor on Baileys with a seeded in-memory auth store.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initAuthCreds } from '@whiskeysockets/baileys';
import { pino } from 'pino';
import type { ReconnectPolicy } from '../machines/reconnect-policy.js';
import type { SessionTransition } from '../machines/transition.js';
import { startSupervisor } from '../src/supervisor.js';
import { encodeAuthValue } from '../src/whatsapp/auth-store.js';
import { hardenBaileys } from '../src/whatsapp/baileys-hardening.js';
import { createConnectionLogic } from '../src/whatsapp/connection.js';
import { createSeededAuthStore } from './seeded-auth-store.js';

export function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Paired-looking creds (`creds.me` set), cached in the temp dir (the same file as connect-many). */
export function pairedCreds(count: number): string[] {
  const file = join(tmpdir(), `wa-supervisor-bench-creds-${count}.json`);
  if (existsSync(file)) {
    const cached = JSON.parse(readFileSync(file, 'utf8')) as string[];
    if (cached.length === count) return cached;
  }
  const encoded = Array.from({ length: count }, (_, i) => {
    const creds = initAuthCreds();
    creds.me = { id: `5511${String(9_0000_0000 + i)}:1@s.whatsapp.net`, name: `bench ${i}` };
    return encodeAuthValue(creds);
  });
  writeFileSync(file, JSON.stringify(encoded));
  return encoded;
}

/** Hex of the Noise public key in encoded creds: how the simulator names a connection. */
export function noiseKeyOf(encoded: string): string {
  const creds = JSON.parse(encoded) as { noiseKey: { public: { data: string } } };
  return Buffer.from(creds.noiseKey.public.data, 'base64').toString('hex');
}

export function percentiles(values: number[]): {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  min: number;
} {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
  return { min: sorted[0] ?? 0, p50: at(50), p90: at(90), p99: at(99), max: sorted[sorted.length - 1] ?? 0 };
}

export const round = (n: number, digits = 1) => Number(n.toFixed(digits));

/** The daemon's supervisor and Baileys connector over `encoded` creds (ids `s0`, `s1`, ...). */
export function startBaileysFleet(options: {
  encoded: string[];
  url: string;
  rootPublicKeyHex: string;
  policy: ReconnectPolicy;
  gate: number;
  onTransition: (t: SessionTransition) => void;
}) {
  hardenBaileys({ noiseRootPublicKeyHex: options.rootPublicKeyHex, logger: pino({ level: 'silent' }) });
  const logger = pino({ level: 'silent' });
  const ids = options.encoded.map((_, i) => `s${i}`);
  const store = createSeededAuthStore(new Map(ids.map((id, i) => [id, options.encoded[i]])));
  const supervisor = startSupervisor({
    logger,
    connection: createConnectionLogic({ authStore: store, logger, waWebSocketUrl: options.url }),
    policy: options.policy,
    maxConcurrentConnects: options.gate,
    onTransition: options.onTransition,
  });
  return { ids, supervisor };
}
