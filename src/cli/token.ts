import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.js';
import { resolveJwtKey } from '../http/jwt-key.js';
import { parseTtl, signToken } from '../http/token.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      user: { type: 'string' },
      admin: { type: 'boolean', default: false },
      ttl: { type: 'string', default: '1h' },
    },
  });
  if (!values.user || !/^[1-9][0-9]{0,9}$/.test(values.user)) {
    throw new Error('usage: npm run token -- --user <id> [--admin] [--ttl 1h]');
  }
  const key = await resolveJwtKey(loadConfig());
  if (key.algorithm !== 'HS256') {
    throw new Error('JWT_PUBLIC_KEY is set: tokens come from the holder of the private key');
  }
  const token = signToken(key.secret, {
    user: Number(values.user),
    admin: values.admin,
    ttlSeconds: parseTtl(values.ttl),
  });
  process.stdout.write(`${token}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`token: ${err instanceof ConfigError || err instanceof Error ? err.message : err}\n`);
  process.exitCode = 1;
});
