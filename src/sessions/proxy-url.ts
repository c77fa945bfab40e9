export const PROXY_SCHEMES = ['http', 'https', 'socks4', 'socks4a', 'socks5', 'socks5h'] as const;

// scheme://[user[:password]@]host:port[/] — no path, query or fragment; the port is required.
const PROXY_URL = new RegExp(
  `^(${PROXY_SCHEMES.join('|')})://(?:([^:@/\\s]+)(?::([^@/\\s]*))?@)?(\\[[0-9a-fA-F:.]+\\]|[^:@/?#\\[\\]\\s]+):(\\d{1,5})/?$`,
  'i',
);

/** Why `url` is not an acceptable proxy URL, or null when it is. Never echoes the URL (it may hold a password). */
export function proxyUrlProblem(url: string): string | null {
  if (/\s/.test(url)) return 'must not contain whitespace';
  const m = PROXY_URL.exec(url);
  if (!m) {
    const scheme = /^([a-z0-9+.-]+):/i.exec(url)?.[1]?.toLowerCase();
    if (scheme && !(PROXY_SCHEMES as readonly string[]).includes(scheme)) {
      return `scheme must be one of ${PROXY_SCHEMES.join(', ')}`;
    }
    return 'must be scheme://[user[:password]@]host:port with no path or query';
  }
  const port = Number(m[5]);
  if (port < 1 || port > 65535) return 'port must be from 1 to 65535';
  if (!URL.canParse(url)) return 'is not a valid URL';
  return null;
}
