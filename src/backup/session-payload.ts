import { type AuthenticationCreds, BufferJSON } from '@whiskeysockets/baileys';
import { BackupError } from './backup-file.js';

/** Signal keys by type and id, values as Baileys' `BufferJSON.reviver` gives them back. */
export type KeyRows = Record<string, Record<string, unknown>>;

/** What `session_data` encrypts. */
export interface SessionPayload {
  creds: AuthenticationCreds;
  keys: KeyRows;
  /** Full, unmasked. */
  proxyUrl: string | null;
}

/** The plaintext of `session_data`: UTF-8 JSON `{creds, keys, proxy_url}` through `BufferJSON.replacer`. */
export function encodeSessionPayload({ creds, keys, proxyUrl }: SessionPayload): Buffer {
  return Buffer.from(JSON.stringify({ creds, keys, proxy_url: proxyUrl }, BufferJSON.replacer), 'utf8');
}

/**
 * Inverse of {@link encodeSessionPayload}, with the checks a restore needs: creds that Baileys can
 * log in with (key pairs, signed pre-key, registration id, adv secret, `me.id`) and a keys map
 * that fits the key table.
 * @throws BackupError `invalid_backup` naming the first field that is wrong, never its value.
 */
export function decodeSessionPayload(plaintext: Buffer): SessionPayload {
  let payload: unknown;
  try {
    payload = JSON.parse(plaintext.toString('utf8'), BufferJSON.reviver);
  } catch {
    invalid('session_data does not hold JSON');
  }
  if (!isObject(payload)) invalid('session_data must hold a JSON object');
  const { creds, keys, proxy_url: proxyUrl } = payload;
  checkCreds(creds);
  checkKeys(keys);
  if (proxyUrl !== null && (typeof proxyUrl !== 'string' || !URL.canParse(proxyUrl))) {
    invalid('proxy_url in session_data must be null or a URL');
  }
  return { creds: creds as AuthenticationCreds, keys: keys as KeyRows, proxyUrl: proxyUrl as string | null };
}

function invalid(message: string): never {
  throw new BackupError('invalid_backup', `invalid backup: ${message}`);
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isBytes = (v: unknown, length: number) => Buffer.isBuffer(v) && v.length === length;

function checkKeyPair(v: unknown, path: string) {
  if (!isObject(v) || !isBytes(v.private, 32) || !isBytes(v.public, 32)) {
    invalid(`${path} must be a key pair of two 32-byte buffers`);
  }
}

function checkCreds(creds: unknown): void {
  if (!isObject(creds)) invalid('creds must be an object');
  checkKeyPair(creds.noiseKey, 'creds.noiseKey');
  checkKeyPair(creds.signedIdentityKey, 'creds.signedIdentityKey');
  const spk = creds.signedPreKey;
  if (!isObject(spk)) invalid('creds.signedPreKey must be an object');
  checkKeyPair(spk.keyPair, 'creds.signedPreKey.keyPair');
  if (!isBytes(spk.signature, 64)) invalid('creds.signedPreKey.signature must be a 64-byte buffer');
  if (!Number.isSafeInteger(spk.keyId)) invalid('creds.signedPreKey.keyId must be an integer');
  if (!Number.isSafeInteger(creds.registrationId)) invalid('creds.registrationId must be an integer');
  if (typeof creds.advSecretKey !== 'string' || Buffer.from(creds.advSecretKey, 'base64').length !== 32) {
    invalid('creds.advSecretKey must be 32 bytes in base64');
  }
  if (!isObject(creds.me) || typeof creds.me.id !== 'string' || !creds.me.id) {
    invalid('creds.me.id is missing: the session was never paired');
  }
}

const KEY_TYPE = /^[a-z0-9-]{1,32}$/;

function checkKeys(keys: unknown): void {
  if (!isObject(keys)) invalid('keys must be an object of key types');
  for (const [type, rows] of Object.entries(keys)) {
    if (!KEY_TYPE.test(type)) invalid('keys has a key type that is not 1 to 32 of [a-z0-9-]');
    if (!isObject(rows)) invalid(`keys["${type}"] must be an object of key ids`);
    for (const [id, value] of Object.entries(rows)) {
      if (id.length === 0 || id.length > 255)
        invalid(`keys["${type}"] has an id that is not 1 to 255 characters`);
      if (value === null || value === undefined) invalid(`keys["${type}"] has a null value`);
    }
  }
}
