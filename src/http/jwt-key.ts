import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config.js';

/** How bearer tokens are verified: HS256 with a shared secret, or RS256 with a public key. */
export type JwtKey = { algorithm: 'HS256'; secret: string } | { algorithm: 'RS256'; publicKey: string };

export const DEV_JWT_SECRET_FILE = 'jwt-dev.secret';

/**
 * JWT_SECRET or JWT_PUBLIC_KEY from the configuration. With neither (development only: the config
 * refuses that in production) a random HS256 secret is generated once into DATA_DIR, mode 0600,
 * with a warning; `npm run token` signs with the same file.
 */
export async function resolveJwtKey(config: Pick<Config, 'jwt' | 'dataDir' | 'nodeEnv'>, logger?: Logger) {
  if (config.jwt.secret) return { algorithm: 'HS256', secret: config.jwt.secret } satisfies JwtKey;
  if (config.jwt.publicKey) return { algorithm: 'RS256', publicKey: config.jwt.publicKey } satisfies JwtKey;
  if (config.nodeEnv === 'production')
    throw new Error('JWT_SECRET or JWT_PUBLIC_KEY is required in production');
  const file = join(config.dataDir, DEV_JWT_SECRET_FILE);
  let secret: string;
  try {
    secret = (await readFile(file, 'utf8')).trim();
  } catch {
    secret = randomBytes(32).toString('base64url');
    await mkdir(config.dataDir, { recursive: true });
    await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' }).catch(async () => {
      secret = (await readFile(file, 'utf8')).trim();
    });
  }
  logger?.warn(
    { file },
    'JWT_SECRET and JWT_PUBLIC_KEY are unset: using a development secret from DATA_DIR (never do this in production)',
  );
  return { algorithm: 'HS256', secret } satisfies JwtKey;
}
