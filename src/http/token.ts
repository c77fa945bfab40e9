import { createHmac } from 'node:crypto';

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `1h`, `30m`, `7d`, `90s` or plain seconds → seconds. */
export function parseTtl(ttl: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(ttl.trim());
  if (!m || Number(m[1]) <= 0) throw new Error(`--ttl ${ttl}: use e.g. 90s, 30m, 1h, 7d`);
  return Number(m[1]) * UNITS[m[2] || 's'];
}

/** An HS256 JWT with `sub` = the user id as a string (RFC 7519), optional `role: "admin"`. */
export function signToken(
  secret: string,
  {
    user,
    admin = false,
    ttlSeconds = 3600,
    now = Date.now(),
  }: {
    user: number;
    admin?: boolean;
    ttlSeconds?: number;
    now?: number;
  },
): string {
  const iat = Math.floor(now / 1000);
  const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const payload = { sub: String(user), ...(admin ? { role: 'admin' } : {}), iat, exp: iat + ttlSeconds };
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}
