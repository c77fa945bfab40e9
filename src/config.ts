import { createPublicKey } from 'node:crypto';
import { resolve } from 'node:path';
import { DEFAULT_CONNECTION_CONFIG } from '@whiskeysockets/baileys';
import type { LevelWithSilent } from 'pino';

/** A bad environment variable; `message` is one line that names it and never echoes a secret. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable} ${problem}`);
  }
}

export type NodeEnv = 'development' | 'production' | 'test';

/** The daemon's settings, read once at start-up from the environment. */
export interface Config {
  nodeEnv: NodeEnv;
  port: number;
  host: string;
  /** Unset: an embedded PostgreSQL (PGlite) under `dataDir`. */
  databaseUrl: string | undefined;
  /** Absolute path. */
  dataDir: string;
  /** Exactly one of them in production (HS256 secret or RS256 PEM public key). */
  jwt: { secret: string | undefined; publicKey: string | undefined };
  /** 32 bytes. Unset outside production: the persistence layer generates one into `dataDir`. */
  sessionEncryptionKey: Buffer | undefined;
  waWebSocketUrl: string;
  /** 64 lower-case hex characters; only for simulators. */
  waNoiseRootPublicKeyHex: string | undefined;
  reconnect: { delaysMs: number[]; jitter: number };
  maxConcurrentConnects: number;
  log: { level: LevelWithSilent; pretty: boolean };
  /** METRICS_PER_SESSION: per-session series (cardinality grows with the fleet); METRICS_TOKEN protects /metrics. */
  metrics: { perSession: boolean; token: string | undefined };
  /** `ws://host:port` of a @statelyai/inspect WebSocket server; unset: no inspector. */
  inspect: string | undefined;
}

const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const NODE_ENVS: readonly NodeEnv[] = ['development', 'production', 'test'];
const MIN_PRODUCTION_JWT_SECRET_LENGTH = 32;

type Env = Record<string, string | undefined>;

/**
 * Reads and validates the configuration. An empty variable counts as unset.
 * @throws ConfigError on the first invalid variable.
 */
export function loadConfig(env: Env = process.env): Config {
  const read = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value ? value : undefined;
  };

  const nodeEnv = oneOf('NODE_ENV', read('NODE_ENV') ?? 'development', NODE_ENVS);
  const production = nodeEnv === 'production';

  const jwtSecret = read('JWT_SECRET');
  const jwtPublicKey = parseJwtPublicKey(read('JWT_PUBLIC_KEY'));
  if (jwtSecret && jwtPublicKey) {
    throw new ConfigError('JWT_SECRET', 'and JWT_PUBLIC_KEY are both set; set only one');
  }
  if (production && !jwtSecret && !jwtPublicKey) {
    throw new ConfigError('JWT_SECRET', 'or JWT_PUBLIC_KEY is required when NODE_ENV=production');
  }
  if (production && jwtSecret && jwtSecret.length < MIN_PRODUCTION_JWT_SECRET_LENGTH) {
    throw new ConfigError(
      'JWT_SECRET',
      `must be at least ${MIN_PRODUCTION_JWT_SECRET_LENGTH} characters when NODE_ENV=production`,
    );
  }

  const sessionEncryptionKey = parseEncryptionKey(read('SESSION_ENCRYPTION_KEY'));
  if (production && !sessionEncryptionKey) {
    throw new ConfigError('SESSION_ENCRYPTION_KEY', 'is required when NODE_ENV=production');
  }

  const logLevel = oneOf('LOG_LEVEL', read('LOG_LEVEL')?.toLowerCase() ?? 'info', LOG_LEVELS);

  return {
    nodeEnv,
    port: parsePort(read('PORT')),
    // Listens on every interface by default: the daemon is meant to run in a container.
    host: read('HOST') ?? '0.0.0.0',
    databaseUrl: parseDatabaseUrl(read('DATABASE_URL')),
    dataDir: resolve(read('DATA_DIR') ?? './data'),
    jwt: { secret: jwtSecret, publicKey: jwtPublicKey },
    sessionEncryptionKey,
    waWebSocketUrl: parseWsUrl(read('WA_WS_URL')),
    waNoiseRootPublicKeyHex: parseRootKey(read('WA_NOISE_ROOT_PUBLIC_KEY')),
    reconnect: {
      delaysMs: parseDelays(read('RECONNECT_DELAYS')),
      jitter: parseJitter(read('RECONNECT_JITTER')),
    },
    maxConcurrentConnects: parsePositiveInt('MAX_CONCURRENT_CONNECTS', read('MAX_CONCURRENT_CONNECTS'), 25),
    log: { level: logLevel, pretty: parseBoolean('LOG_PRETTY', read('LOG_PRETTY'), false) },
    metrics: {
      perSession: parseBoolean('METRICS_PER_SESSION', read('METRICS_PER_SESSION'), false),
      token: read('METRICS_TOKEN'),
    },
    inspect: parseWebSocketUrl('INSPECT', read('INSPECT')),
  };
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

function parsePort(value: string | undefined): number {
  if (value === undefined) return 8001;
  const port = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(port >= 0 && port <= 65535)) throw new ConfigError('PORT', 'must be an integer from 0 to 65535');
  return port;
}

function parsePositiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(Number.isSafeInteger(n) && n > 0)) throw new ConfigError(name, 'must be a positive integer');
  return n;
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

function parseBoolean(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  const v = value.toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw new ConfigError(name, 'must be true or false (1/0, yes/no, on/off)');
}

function parseDatabaseUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  // The value holds a password: never put it in the message.
  const protocol = URL.canParse(value) ? new URL(value).protocol : undefined;
  if (protocol !== 'postgres:' && protocol !== 'postgresql:') {
    throw new ConfigError('DATABASE_URL', 'must be a postgres:// or postgresql:// URL');
  }
  return value;
}

function parseJwtPublicKey(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  // Env files often carry a PEM on one line with literal "\n".
  const pem = value.includes('\\n') ? value.replaceAll('\\n', '\n') : value;
  let type: string | undefined;
  try {
    type = createPublicKey(pem).asymmetricKeyType;
  } catch {
    throw new ConfigError('JWT_PUBLIC_KEY', 'is not a PEM public key');
  }
  if (type !== 'rsa') throw new ConfigError('JWT_PUBLIC_KEY', 'must be an RSA public key (RS256)');
  return pem;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function parseEncryptionKey(value: string | undefined): Buffer | undefined {
  if (value === undefined) return undefined;
  const key = BASE64.test(value) ? Buffer.from(value, 'base64') : undefined;
  if (key?.length !== 32) {
    throw new ConfigError('SESSION_ENCRYPTION_KEY', 'must be 32 bytes encoded as base64 (44 characters)');
  }
  return key;
}

function parseWsUrl(value: string | undefined): string {
  if (value === undefined) return String(DEFAULT_CONNECTION_CONFIG.waWebSocketUrl);
  const protocol = URL.canParse(value) ? new URL(value).protocol : undefined;
  if (protocol !== 'ws:' && protocol !== 'wss:')
    throw new ConfigError('WA_WS_URL', 'must be a ws:// or wss:// URL');
  return value;
}

function parseRootKey(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9a-fA-F]{64}$/.test(value)) {
    throw new ConfigError('WA_NOISE_ROOT_PUBLIC_KEY', 'must be 64 hex characters (a 32-byte Curve25519 key)');
  }
  return value.toLowerCase();
}

const DEFAULT_DELAYS_S = [0, 30, 60, 120, 240, 480];

function parseDelays(value: string | undefined): number[] {
  if (value === undefined) return DEFAULT_DELAYS_S.map((s) => s * 1000);
  const parts = value.split(',').map((part) => part.trim());
  const seconds = parts.map((part) => (/^\d+(\.\d+)?$/.test(part) ? Number(part) : Number.NaN));
  if (seconds.some((s) => !Number.isFinite(s))) {
    throw new ConfigError('RECONNECT_DELAYS', 'must be a comma-separated list of seconds (e.g. 0,30,60)');
  }
  return seconds.map((s) => Math.round(s * 1000));
}

function parseJitter(value: string | undefined): number {
  if (value === undefined) return 0.2;
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= 0 && n <= 1)) throw new ConfigError('RECONNECT_JITTER', 'must be a number from 0 to 1');
  return n;
}

function parseWebSocketUrl(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!URL.canParse(value) || !['ws:', 'wss:'].includes(new URL(value).protocol)) {
    throw new ConfigError(name, 'must be a ws:// or wss:// URL (e.g. ws://127.0.0.1:8080)');
  }
  return value;
}
