import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';

const CIPHER = 'aes-256-gcm';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** File under DATA_DIR that holds the generated development key. */
export const GENERATED_KEY_FILE = 'session-encryption.key';

/**
 * A value could not be decrypted: altered, moved to another row, or sealed with a key the ring
 * does not hold. The message names the row and key ids, never key material or plaintext.
 */
export class DecryptionError extends Error {
  override readonly name = 'DecryptionError';
}

/** A missing or malformed key setting; `message` is one line and never echoes the value. */
export class EncryptionKeyError extends Error {
  override readonly name = 'EncryptionKeyError';
}

/** A sealed value: `iv ‖ ciphertext ‖ tag`, and the id of the key that sealed it. */
export interface Sealed {
  keyId: string;
  data: Buffer;
}

/** AES-256-GCM with the current key; opens values sealed with the current or a previous key. */
export interface Keyring {
  /** Id of the key new values are sealed with. */
  readonly currentKeyId: string;
  /** Ids of every key this ring can open, current first. */
  readonly keyIds: readonly string[];
  /** Encrypts with the current key and a fresh 12-byte IV; `aad` binds the value to its row. */
  seal(plaintext: Buffer | string, aad: string): Sealed;
  /**
   * Decrypts and authenticates.
   * @param what names the row in the error message, e.g. `whatsapp_auth_key (session 3, pre-key 17)`.
   * @throws DecryptionError
   */
  open(sealed: Sealed, aad: string, what: string): Buffer;
  /**
   * A 32-byte subkey of key `keyId` for another purpose (e.g. backups): HKDF-SHA256 with an empty
   * salt and `info` as the label, so the row key itself never leaves the ring.
   * @returns undefined when the ring does not hold that key.
   */
  derive(keyId: string, info: string): Buffer | undefined;
}

/** Key id stored next to every sealed value: the first 8 hex digits of sha256(key). */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/** Associated data for an auth value or a session secret: `session_id|type|key_id`. */
export function rowAad(sessionId: number, type: string, keyId = ''): string {
  return `${sessionId}|${type}|${keyId}`;
}

/**
 * Builds a keyring from raw 32-byte keys.
 * @param previous keys still accepted for reading, e.g. during a rotation.
 */
export function createKeyring(current: Buffer, previous: readonly Buffer[] = []): Keyring {
  const keys = new Map<string, Buffer>();
  for (const key of [current, ...previous]) {
    if (key.length !== KEY_BYTES) throw new EncryptionKeyError(`encryption keys must be ${KEY_BYTES} bytes`);
    const id = keyIdOf(key);
    if (!keys.has(id)) keys.set(id, Buffer.from(key));
  }
  const currentKeyId = keyIdOf(current);
  const currentKey = keys.get(currentKeyId)!;

  return {
    currentKeyId,
    keyIds: [...keys.keys()],

    seal(plaintext, aad) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv(CIPHER, currentKey, iv);
      cipher.setAAD(Buffer.from(aad, 'utf8'));
      const body = cipher.update(typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext);
      const data = Buffer.concat([iv, body, cipher.final(), cipher.getAuthTag()]);
      return { keyId: currentKeyId, data };
    },

    derive(keyId, info) {
      const key = keys.get(keyId);
      return key ? Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), info, KEY_BYTES)) : undefined;
    },

    open({ keyId, data }, aad, what) {
      const key = keys.get(keyId);
      if (!key) {
        throw new DecryptionError(
          `cannot decrypt ${what}: it was encrypted with key ${keyId}, which is not configured ` +
            `(current key ${currentKeyId}; set SESSION_ENCRYPTION_KEY_PREVIOUS to the old key)`,
        );
      }
      if (data.length < IV_BYTES + TAG_BYTES) {
        throw new DecryptionError(`cannot decrypt ${what} with key ${keyId}: the stored value is truncated`);
      }
      try {
        const decipher = createDecipheriv(CIPHER, key, data.subarray(0, IV_BYTES));
        decipher.setAAD(Buffer.from(aad, 'utf8'));
        decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
        return Buffer.concat([
          decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
          decipher.final(),
        ]);
      } catch {
        throw new DecryptionError(
          `cannot decrypt ${what} with key ${keyId}: authentication failed ` +
            '(the stored value was altered or belongs to another row)',
        );
      }
    },
  };
}

/** Text form of a sealed value, for text columns: `<key id>:<base64 of iv ‖ ciphertext ‖ tag>`. */
export function sealedToText({ keyId, data }: Sealed): string {
  return `${keyId}:${data.toString('base64')}`;
}

/** Inverse of {@link sealedToText}. @throws DecryptionError on a malformed value. */
export function sealedFromText(text: string, what: string): Sealed {
  const colon = text.indexOf(':');
  if (colon <= 0)
    throw new DecryptionError(`cannot decrypt ${what}: the stored value is not in <key id>:<data> form`);
  return { keyId: text.slice(0, colon), data: Buffer.from(text.slice(colon + 1), 'base64') };
}

export interface LoadKeyringOptions {
  /** Reads SESSION_ENCRYPTION_KEY, SESSION_ENCRYPTION_KEY_PREVIOUS (comma-separated) and NODE_ENV. */
  env?: Record<string, string | undefined>;
  /** Where a development key is generated when SESSION_ENCRYPTION_KEY is unset. */
  dataDir: string;
  logger: Logger;
}

/**
 * The daemon's keyring from the environment. SESSION_ENCRYPTION_KEY unset: refused when
 * NODE_ENV=production, otherwise a key is generated once into `DATA_DIR/session-encryption.key`
 * (mode 0600) and reused, with a warning.
 * @throws EncryptionKeyError with a one-line message.
 */
export async function loadKeyring({
  env = process.env,
  dataDir,
  logger,
}: LoadKeyringOptions): Promise<Keyring> {
  const read = (name: string) => env[name]?.trim() || undefined;
  const previous = (read('SESSION_ENCRYPTION_KEY_PREVIOUS') ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((value) => parseKey('SESSION_ENCRYPTION_KEY_PREVIOUS', value));

  const configured = read('SESSION_ENCRYPTION_KEY');
  if (configured) return createKeyring(parseKey('SESSION_ENCRYPTION_KEY', configured), previous);

  if (read('NODE_ENV') === 'production') {
    throw new EncryptionKeyError('SESSION_ENCRYPTION_KEY is required when NODE_ENV=production');
  }
  const file = join(dataDir, GENERATED_KEY_FILE);
  const key = await readOrCreateKeyFile(file);
  logger.warn(
    { file, keyId: keyIdOf(key) },
    'SESSION_ENCRYPTION_KEY is unset: using a key generated into DATA_DIR (development only; set it in production)',
  );
  return createKeyring(key, previous);
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function parseKey(variable: string, value: string): Buffer {
  const key = BASE64.test(value) ? Buffer.from(value, 'base64') : undefined;
  if (key?.length !== KEY_BYTES) {
    throw new EncryptionKeyError(`${variable} must be ${KEY_BYTES} bytes encoded as base64 (44 characters)`);
  }
  return key;
}

async function readOrCreateKeyFile(file: string): Promise<Buffer> {
  try {
    return parseKey(file, (await readFile(file, 'utf8')).trim());
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(join(file, '..'), { recursive: true });
  const key = randomBytes(KEY_BYTES);
  try {
    // 'wx': if another process created it meanwhile, use theirs rather than overwrite it.
    await writeFile(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return parseKey(file, (await readFile(file, 'utf8')).trim());
  }
}
