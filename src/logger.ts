import { createRequire } from 'node:module';
import { type DestinationStream, type LevelWithSilent, type Logger, pino } from 'pino';

/**
 * Paths censored in every log line, children included. `qr` carries the account's advSecretKey;
 * `creds` and `keys` are Baileys' auth state.
 */
export const REDACT_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-backup-passphrase"]',
  'headers.authorization',
  'headers["x-backup-passphrase"]',
  'passphrase',
  '*.passphrase',
  'password',
  '*.password',
  'proxyUrl',
  '*.proxyUrl',
  'proxy_url',
  '*.proxy_url',
  'qr',
  '*.qr',
  'creds',
  '*.creds',
  'keys',
  '*.keys',
  'advSecretKey',
  '*.advSecretKey',
  'sessionEncryptionKey',
  '*.sessionEncryptionKey',
];

export interface LoggerOptions {
  level: LevelWithSilent;
  /** Human-readable output through pino-pretty (a dev dependency): development only. */
  pretty?: boolean;
  /** Where JSON lines go; default stdout. Ignored when `pretty`. */
  destination?: DestinationStream;
}

/** The daemon's root pino logger; everything else logs through its children. */
export function createLogger({ level, pretty = false, destination }: LoggerOptions): Logger {
  const options = { level, redact: { paths: [...REDACT_PATHS], censor } };
  if (pretty) {
    assertPrettyInstalled();
    return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:iso' } } });
  }
  return destination ? pino(options, destination) : pino(options);
}

const PROXY_KEYS = new Set(['proxyUrl', 'proxy_url']);

/** Proxy URLs stay readable with their password masked; everything else is replaced. */
function censor(value: unknown, path: string[]): unknown {
  if (PROXY_KEYS.has(path[path.length - 1]) && typeof value === 'string') return maskUrlPassword(value);
  return '[Redacted]';
}

/**
 * `http://user:secret@host` → `http://user:***@host`. Works on the text as written, not on a
 * re-serialised URL: the WHATWG parser re-encodes some password characters (`:`, `;`, `=`, ...),
 * so searching for its `password` in the original could miss it. A string that is not a URL is
 * replaced whole.
 */
export function maskUrlPassword(url: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url);
  if (!scheme) return '[Redacted]';
  const rest = url.slice(scheme[0].length);
  const at = rest.lastIndexOf('@');
  if (at === -1) return URL.canParse(url) ? url : '[Redacted]';
  const userinfo = rest.slice(0, at);
  const colon = userinfo.indexOf(':');
  if (colon === -1) return url;
  return `${scheme[0]}${userinfo.slice(0, colon)}:***${rest.slice(at)}`;
}

function assertPrettyInstalled(): void {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
  } catch {
    throw new Error('LOG_PRETTY needs the pino-pretty package, which is not installed');
  }
}
