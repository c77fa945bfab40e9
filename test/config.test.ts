import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { DEFAULT_CONNECTION_CONFIG } from '@whiskeysockets/baileys';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

const KEY_B64 = randomBytes(32).toString('base64');
const SECRET = 'x'.repeat(40);
const RSA_PEM = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .publicKey.export({ type: 'spki', format: 'pem' })
  .toString();

const failure = (env: Record<string, string>): ConfigError => {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('loadConfig did not throw');
};

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    expect(loadConfig({})).toEqual({
      nodeEnv: 'development',
      port: 8001,
      host: '0.0.0.0',
      databaseUrl: undefined,
      dataDir: resolve('./data'),
      jwt: { secret: undefined, publicKey: undefined },
      sessionEncryptionKey: undefined,
      waWebSocketUrl: DEFAULT_CONNECTION_CONFIG.waWebSocketUrl,
      waNoiseRootPublicKeyHex: undefined,
      reconnect: { delaysMs: [0, 30_000, 60_000, 120_000, 240_000, 480_000], jitter: 0.2 },
      maxConcurrentConnects: 25,
      log: { level: 'info', pretty: false },
      metrics: { perSession: false, token: undefined },
      inspect: undefined,
    });
  });

  it('reads every variable', () => {
    const rootKey = 'AB'.repeat(32);
    const config = loadConfig({
      NODE_ENV: 'production',
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: 'postgres://wa:pw@db:5432/wa',
      DATA_DIR: '/var/lib/wa',
      JWT_SECRET: SECRET,
      SESSION_ENCRYPTION_KEY: KEY_B64,
      WA_WS_URL: 'ws://127.0.0.1:9000/ws/chat',
      WA_NOISE_ROOT_PUBLIC_KEY: rootKey,
      RECONNECT_DELAYS: '0, 0.5, 2',
      RECONNECT_JITTER: '0',
      MAX_CONCURRENT_CONNECTS: '3',
      LOG_LEVEL: 'DEBUG',
      LOG_PRETTY: 'yes',
      INSPECT: 'ws://127.0.0.1:8080',
      METRICS_PER_SESSION: '1',
      METRICS_TOKEN: 'scrape-token',
    });
    expect(config).toMatchObject({
      nodeEnv: 'production',
      port: 0,
      host: '127.0.0.1',
      databaseUrl: 'postgres://wa:pw@db:5432/wa',
      dataDir: '/var/lib/wa',
      jwt: { secret: SECRET, publicKey: undefined },
      waWebSocketUrl: 'ws://127.0.0.1:9000/ws/chat',
      waNoiseRootPublicKeyHex: rootKey.toLowerCase(),
      reconnect: { delaysMs: [0, 500, 2000], jitter: 0 },
      maxConcurrentConnects: 3,
      log: { level: 'debug', pretty: true },
      inspect: 'ws://127.0.0.1:8080',
      metrics: { perSession: true, token: 'scrape-token' },
    });
    expect(config.sessionEncryptionKey).toEqual(Buffer.from(KEY_B64, 'base64'));
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ PORT: '', RECONNECT_DELAYS: ' ', LOG_LEVEL: '' })).toMatchObject({
      port: 8001,
      reconnect: { delaysMs: [0, 30_000, 60_000, 120_000, 240_000, 480_000] },
      log: { level: 'info' },
    });
  });

  it('accepts an RSA public key with literal \\n escapes', () => {
    const config = loadConfig({ JWT_PUBLIC_KEY: RSA_PEM.replaceAll('\n', '\\n') });
    expect(config.jwt.publicKey).toBe(RSA_PEM);
  });

  it.each([
    ['PORT', { PORT: '70000' }],
    ['PORT', { PORT: '80a' }],
    ['MAX_CONCURRENT_CONNECTS', { MAX_CONCURRENT_CONNECTS: '0' }],
    ['MAX_CONCURRENT_CONNECTS', { MAX_CONCURRENT_CONNECTS: '2.5' }],
    ['RECONNECT_DELAYS', { RECONNECT_DELAYS: '0,thirty' }],
    ['RECONNECT_DELAYS', { RECONNECT_DELAYS: '0,,30' }],
    ['RECONNECT_DELAYS', { RECONNECT_DELAYS: '-1' }],
    ['RECONNECT_JITTER', { RECONNECT_JITTER: '1.5' }],
    ['RECONNECT_JITTER', { RECONNECT_JITTER: 'lots' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'verbose' }],
    ['LOG_PRETTY', { LOG_PRETTY: 'maybe' }],
    ['INSPECT', { INSPECT: '1' }],
    ['INSPECT', { INSPECT: 'http://127.0.0.1:8080' }],
    ['NODE_ENV', { NODE_ENV: 'staging' }],
    ['WA_WS_URL', { WA_WS_URL: 'https://web.whatsapp.com/ws/chat' }],
    ['WA_NOISE_ROOT_PUBLIC_KEY', { WA_NOISE_ROOT_PUBLIC_KEY: 'abcd' }],
    ['JWT_PUBLIC_KEY', { JWT_PUBLIC_KEY: 'not a key' }],
    [
      'JWT_PUBLIC_KEY',
      {
        JWT_PUBLIC_KEY: generateKeyPairSync('ec', { namedCurve: 'P-256' })
          .publicKey.export({ type: 'spki', format: 'pem' })
          .toString(),
      },
    ],
    ['JWT_SECRET', { JWT_SECRET: SECRET, JWT_PUBLIC_KEY: RSA_PEM }],
    ['JWT_SECRET', { NODE_ENV: 'production', SESSION_ENCRYPTION_KEY: KEY_B64 }],
    ['JWT_SECRET', { NODE_ENV: 'production', SESSION_ENCRYPTION_KEY: KEY_B64, JWT_SECRET: 'short' }],
    ['SESSION_ENCRYPTION_KEY', { NODE_ENV: 'production', JWT_SECRET: SECRET }],
  ])('rejects a bad %s in one line naming it', (variable, env) => {
    const err = failure(env);
    expect(err.variable).toBe(variable);
    expect(err.message.startsWith(variable)).toBe(true);
    expect(err.message).not.toContain('\n');
  });

  it('never echoes a secret value', () => {
    const secrets = {
      DATABASE_URL: 'mysql://user:hunter2hunter2@db/wa',
      SESSION_ENCRYPTION_KEY: randomBytes(16).toString('base64'),
      JWT_PUBLIC_KEY: 'hunter3-not-a-pem',
    };
    for (const [name, value] of Object.entries(secrets)) {
      const err = failure({ [name]: value });
      expect(err.variable).toBe(name);
      expect(err.message).not.toContain(value);
      expect(err.message).not.toContain('hunter');
    }
  });

  it('rejects a key that is base64 but not 32 bytes, or not base64 at all', () => {
    expect(failure({ SESSION_ENCRYPTION_KEY: randomBytes(31).toString('base64') }).variable).toBe(
      'SESSION_ENCRYPTION_KEY',
    );
    expect(failure({ SESSION_ENCRYPTION_KEY: `${KEY_B64.slice(0, -2)}!!` }).variable).toBe(
      'SESSION_ENCRYPTION_KEY',
    );
  });
});
