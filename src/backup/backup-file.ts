import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import type { Keyring } from '../persistence/secret-box.js';

/** `format` of every backup file. */
export const BACKUP_FORMAT = 'wa-supervisor/session-backup';
/** The version this code writes. */
export const BACKUP_VERSION = 1;
/** Versions this code reads. */
export const SUPPORTED_BACKUP_VERSIONS: readonly number[] = [1];
/** Shortest passphrase accepted on export, in characters. */
export const MIN_PASSPHRASE_LENGTH = 12;
/** scrypt parameters written on export. */
export const SCRYPT_PARAMS = { N: 32768, r: 8, p: 1 } as const;
/** HKDF label of the server-key mode: the backup key is HKDF-SHA256(SESSION_ENCRYPTION_KEY, info = this). */
export const SERVER_KEY_INFO = 'wa-supervisor/session-backup/v1/server-key';

const CIPHER = 'aes-256-gcm';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const SALT_BYTES = 16;
const TAG_BYTES = 16;
/** Bounds on a file's scrypt parameters, so a crafted file cannot make an import take minutes or gigabytes. */
const SCRYPT_LIMITS = { minN: 2 ** 14, maxN: 2 ** 20, maxR: 32, maxP: 16, maxMem: 256 * 1024 * 1024 };

export type BackupErrorCode =
  /** The file is not a well-formed version-1 backup (JSON, fields, types, base64, payload shape). */
  | 'invalid_backup'
  /** `version` is not one this code reads. */
  | 'unsupported_version'
  /** The GCM tag did not verify: wrong passphrase or server key, or an edited file. */
  | 'decryption_failed'
  /** A passphrase-protected file was imported without a passphrase. */
  | 'passphrase_required'
  /** A server-key file whose key this server does not hold. */
  | 'unknown_server_key'
  /** Export: the passphrase is shorter than {@link MIN_PASSPHRASE_LENGTH}. */
  | 'weak_passphrase'
  /** Export: the session has no paired credentials yet. */
  | 'not_paired'
  /** Export: no such session (for this owner). */
  | 'session_not_found';

const STATUS: Record<BackupErrorCode, 400 | 404 | 409 | 422> = {
  invalid_backup: 422,
  unsupported_version: 422,
  decryption_failed: 422,
  passphrase_required: 422,
  unknown_server_key: 422,
  weak_passphrase: 400,
  not_paired: 409,
  session_not_found: 404,
};

/**
 * A backup could not be written or read. `message` is one sentence saying what was wrong; it never
 * contains a passphrase, key material or decrypted data. `status` is the HTTP status the API answers.
 */
export class BackupError extends Error {
  override readonly name = 'BackupError';
  readonly status: 400 | 404 | 409 | 422;

  constructor(
    readonly code: BackupErrorCode,
    message: string,
  ) {
    super(message);
    this.status = STATUS[code];
  }
}

export interface ScryptEncryption {
  cipher: 'aes-256-gcm';
  kdf: 'scrypt';
  salt: string;
  N: number;
  r: number;
  p: number;
  iv: string;
}

export interface ServerKeyEncryption {
  cipher: 'aes-256-gcm';
  kdf: 'server-key';
  key_id: string;
  iv: string;
}

/** The session fields of a backup, outside `session_data`. `proxy_url` is masked. */
export interface BackupMetadata {
  session_id: number;
  usuario_id: number;
  device_name: string;
  phone_number: string | null;
  auto_reconnect: boolean;
  proxy_enabled: boolean;
  proxy_url: string | null;
  created_at: string;
  connected_at: string | null;
  export_timestamp: string;
}

/** A version-1 backup file as JSON. */
export interface BackupFile extends BackupMetadata {
  format: typeof BACKUP_FORMAT;
  version: 1;
  encryption: ScryptEncryption | ServerKeyEncryption;
  session_data: string;
}

/**
 * JSON with object keys sorted (UTF-16 code-unit order, as `Array.prototype.sort`) at every level,
 * no whitespace, strings and numbers written as `JSON.stringify` writes them. The GCM associated
 * data of a backup is this form of the file without `session_data`.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('not a finite number');
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError(`${typeof value} has no JSON form`);
  return text;
}

/** The associated data of a backup: {@link canonicalJson} of every top-level field except `session_data`. */
export function backupAad(file: Record<string, unknown>): string {
  const { session_data: _, ...rest } = file;
  return canonicalJson(rest);
}

/** How to encrypt a backup: a passphrase (scrypt), or else the keyring's current key (server-key). */
export interface SealOptions {
  passphrase?: string;
  keyring: Keyring;
  /** Fixed salt and IV, for test vectors only; random otherwise. */
  salt?: Buffer;
  iv?: Buffer;
}

/**
 * Encrypts `plaintext` into a version-1 backup around `metadata`.
 * @throws BackupError `weak_passphrase` when the passphrase is shorter than 12 characters.
 */
export async function sealBackup(
  metadata: BackupMetadata,
  plaintext: Buffer,
  { passphrase, keyring, salt, iv = randomBytes(IV_BYTES) }: SealOptions,
): Promise<BackupFile> {
  let key: Buffer;
  let encryption: BackupFile['encryption'];
  if (passphrase !== undefined) {
    if ([...passphrase].length < MIN_PASSPHRASE_LENGTH) {
      throw new BackupError(
        'weak_passphrase',
        `the backup passphrase must be at least ${MIN_PASSPHRASE_LENGTH} characters long`,
      );
    }
    const kdfSalt = salt ?? randomBytes(SALT_BYTES);
    key = await scryptKey(passphrase, kdfSalt, SCRYPT_PARAMS);
    encryption = {
      cipher: CIPHER,
      kdf: 'scrypt',
      salt: kdfSalt.toString('base64'),
      ...SCRYPT_PARAMS,
      iv: iv.toString('base64'),
    };
  } else {
    key = keyring.derive(keyring.currentKeyId, SERVER_KEY_INFO)!;
    encryption = {
      cipher: CIPHER,
      kdf: 'server-key',
      key_id: keyring.currentKeyId,
      iv: iv.toString('base64'),
    };
  }
  const header = { format: BACKUP_FORMAT, version: 1, ...metadata, encryption } as const;
  const cipher = createCipheriv(CIPHER, key, iv);
  cipher.setAAD(Buffer.from(backupAad(header), 'utf8'));
  const data = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return { ...header, session_data: data.toString('base64') };
}

export interface OpenOptions {
  passphrase?: string;
  keyring: Keyring;
}

/**
 * Parses the text of a backup file.
 * @throws BackupError `invalid_backup` when it is not a JSON object (e.g. a truncated file).
 */
export function parseBackupText(text: string | Buffer): unknown {
  try {
    return JSON.parse(typeof text === 'string' ? text : text.toString('utf8'));
  } catch {
    throw new BackupError('invalid_backup', 'the backup is not valid JSON (truncated or not a backup file)');
  }
}

/**
 * Checks a parsed backup file and decrypts `session_data`. Every check that needs no key runs
 * first; then the GCM tag authenticates the ciphertext and every other top-level field.
 * @throws BackupError for every problem: the format, the version, a field's type, the key, the tag.
 */
export async function openBackup(
  input: unknown,
  { passphrase, keyring }: OpenOptions,
): Promise<{ file: BackupFile; plaintext: Buffer }> {
  const file = checkEnvelope(input);
  const { encryption } = file;
  const iv = decodeBase64(encryption.iv, 'encryption.iv');
  if (iv.length !== IV_BYTES) invalid(`encryption.iv must be ${IV_BYTES} bytes`);

  let key: Buffer;
  let keyName: string;
  if (encryption.kdf === 'scrypt') {
    if (passphrase === undefined || passphrase === '') {
      throw new BackupError(
        'passphrase_required',
        'the backup is protected with a passphrase; send it in X-Backup-Passphrase (BACKUP_PASSPHRASE for the CLI)',
      );
    }
    const salt = decodeBase64(encryption.salt, 'encryption.salt');
    if (salt.length < SALT_BYTES || salt.length > 64) invalid('encryption.salt must be 16 to 64 bytes');
    key = await scryptKey(passphrase, salt, encryption);
    keyName = 'the passphrase is wrong';
  } else {
    const derived = keyring.derive(encryption.key_id, SERVER_KEY_INFO);
    if (!derived) {
      throw new BackupError(
        'unknown_server_key',
        `the backup was encrypted with server key ${encryption.key_id}, which this server does not hold ` +
          '(export it again with a passphrase to move it between installations)',
      );
    }
    key = derived;
    keyName = 'it does not match this server key';
  }

  const data = decodeBase64(file.session_data, 'session_data');
  if (data.length <= TAG_BYTES) invalid('session_data is too short to hold a GCM tag');
  try {
    const decipher = createDecipheriv(CIPHER, key, iv);
    decipher.setAAD(Buffer.from(backupAad(file as unknown as Record<string, unknown>), 'utf8'));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    const plaintext = Buffer.concat([
      decipher.update(data.subarray(0, data.length - TAG_BYTES)),
      decipher.final(),
    ]);
    return { file, plaintext };
  } catch {
    throw new BackupError(
      'decryption_failed',
      `the backup cannot be decrypted: either ${keyName}, or the file was altered ` +
        '(a metadata field or session_data changed since export)',
    );
  }
}

async function scryptKey(passphrase: string, salt: Buffer, { N, r, p }: { N: number; r: number; p: number }) {
  // Node's default maxmem (32 MiB) is exactly 128·N·r at N=32768, r=8, which it refuses.
  const maxmem = 2 * 128 * N * r + 1024 * 1024;
  return new Promise<Buffer>((resolve, reject) =>
    scrypt(Buffer.from(passphrase, 'utf8'), salt, KEY_BYTES, { N, r, p, maxmem }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

function invalid(message: string): never {
  throw new BackupError('invalid_backup', `invalid backup: ${message}`);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard, padded base64 (RFC 4648 §4), in its one canonical spelling. */
function decodeBase64(value: string, field: string): Buffer {
  const bytes = BASE64.test(value) ? Buffer.from(value, 'base64') : undefined;
  if (!bytes || bytes.toString('base64') !== value) invalid(`${field} is not valid base64`);
  return bytes;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isIsoDate = (v: unknown) => typeof v === 'string' && v.length <= 40 && !Number.isNaN(Date.parse(v));

function checkEnvelope(input: unknown): BackupFile {
  if (!isObject(input)) invalid('the file must be a JSON object');
  if (input.format !== BACKUP_FORMAT) invalid(`format must be "${BACKUP_FORMAT}"`);
  if (!SUPPORTED_BACKUP_VERSIONS.includes(input.version as number)) {
    throw new BackupError(
      'unsupported_version',
      `unsupported backup version ${JSON.stringify(input.version ?? null).slice(0, 20)}; ` +
        `supported versions: ${SUPPORTED_BACKUP_VERSIONS.join(', ')}`,
    );
  }
  const field = (name: string, ok: (v: unknown) => boolean, what: string) => {
    if (!ok(input[name])) invalid(`${name} must be ${what}`);
  };
  const id = (v: unknown) => Number.isSafeInteger(v) && (v as number) > 0;
  const text = (max: number) => (v: unknown) => typeof v === 'string' && v.length <= max;
  const orNull = (ok: (v: unknown) => boolean) => (v: unknown) => v === null || ok(v);
  field('session_id', id, 'a positive integer');
  field('usuario_id', id, 'a positive integer');
  field('device_name', (v) => text(255)(v) && (v as string).length > 0, 'a string of 1 to 255 characters');
  field('phone_number', orNull(text(32)), 'null or a string of at most 32 characters');
  field('auto_reconnect', (v) => typeof v === 'boolean', 'a boolean');
  field('proxy_enabled', (v) => typeof v === 'boolean', 'a boolean');
  field('proxy_url', orNull(text(2048)), 'null or a string');
  field('created_at', isIsoDate, 'an ISO 8601 date');
  field('connected_at', orNull(isIsoDate), 'null or an ISO 8601 date');
  field('export_timestamp', isIsoDate, 'an ISO 8601 date');
  field('session_data', (v) => typeof v === 'string', 'a base64 string');

  const enc = input.encryption;
  if (!isObject(enc)) invalid('encryption must be an object');
  if (enc.cipher !== CIPHER) invalid(`encryption.cipher must be "${CIPHER}"`);
  if (typeof enc.iv !== 'string') invalid('encryption.iv must be a base64 string');
  if (enc.kdf === 'scrypt') {
    if (typeof enc.salt !== 'string') invalid('encryption.salt must be a base64 string');
    const { N, r, p } = enc;
    const int = (v: unknown, max: number) =>
      Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= max;
    const powerOfTwo = int(N, SCRYPT_LIMITS.maxN) && ((N as number) & ((N as number) - 1)) === 0;
    if (!powerOfTwo || (N as number) < SCRYPT_LIMITS.minN) {
      invalid(`encryption.N must be a power of two from ${SCRYPT_LIMITS.minN} to ${SCRYPT_LIMITS.maxN}`);
    }
    if (!int(r, SCRYPT_LIMITS.maxR) || 128 * (N as number) * (r as number) > SCRYPT_LIMITS.maxMem) {
      invalid(
        `encryption.r must be an integer from 1 to ${SCRYPT_LIMITS.maxR}, with 128·N·r at most 256 MiB`,
      );
    }
    if (!int(p, SCRYPT_LIMITS.maxP))
      invalid(`encryption.p must be an integer from 1 to ${SCRYPT_LIMITS.maxP}`);
  } else if (enc.kdf === 'server-key') {
    if (typeof enc.key_id !== 'string' || !/^[0-9a-f]{8}$/.test(enc.key_id)) {
      invalid('encryption.key_id must be 8 lower-case hex digits');
    }
  } else {
    invalid('encryption.kdf must be "scrypt" or "server-key"');
  }
  return input as unknown as BackupFile;
}
