import { createHash } from 'node:crypto';
import { Curve, WA_CERT_DETAILS } from '@whiskeysockets/baileys';
import { verify as xeddsaVerify } from 'curve25519-js';
import type { Logger } from 'pino';

type Verify = (pubKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;

const HARDENED = Symbol.for('wa-supervisor.hardened-verify');
const MEMO_LIMIT = 1024;
const memo = new Map<string, boolean>();
// Saved on first use so that a later call without a simulator key restores WhatsApp's.
let whatsappRootKey: typeof WA_CERT_DETAILS.PUBLIC_KEY | undefined;

/**
 * XEdDSA verification that honours the result. Malformed input verifies false (never throws), so
 * Baileys' callers reject with their own errors. Results are memoised: one pure-JS check costs
 * ~20 ms, and every handshake of a fleet checks the same intermediate certificate.
 */
export function verifySignature(pubKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    const key = rawPublicKey(pubKey);
    if (!key || !(message instanceof Uint8Array) || !(signature instanceof Uint8Array)) return false;
    if (signature.length !== 64) return false;
    const id = createHash('sha256').update(key).update(signature).update(message).digest('base64');
    const known = memo.get(id);
    if (known !== undefined) {
      memo.delete(id);
      memo.set(id, known);
      return known;
    }
    const valid = xeddsaVerify(key, message, signature) === true;
    memo.set(id, valid);
    if (memo.size > MEMO_LIMIT) memo.delete(memo.keys().next().value as string);
    return valid;
  } catch {
    return false;
  }
}

/** Baileys passes 32-byte keys or 33-byte ones prefixed with the DJB type byte (5). */
function rawPublicKey(pubKey: Uint8Array): Uint8Array | undefined {
  if (!(pubKey instanceof Uint8Array)) return undefined;
  if (pubKey.length === 32) return pubKey;
  if (pubKey.length === 33 && pubKey[0] === 5) return pubKey.subarray(1);
  return undefined;
}

/** Whether {@link hardenBaileys} has replaced Baileys' `Curve.verify` in this process. */
export function isBaileysHardened(): boolean {
  return (Curve.verify as Verify & { [HARDENED]?: true })[HARDENED] === true;
}

export interface HardenBaileysOptions {
  /** Trust this root key for the server's Noise certificate chain instead of WhatsApp's (simulators only). */
  noiseRootPublicKeyHex?: string;
  logger: Logger;
}

/**
 * Makes the Baileys module this process uses verify signatures for real, then proves it.
 *
 * Baileys 7.0.0-rc14's `Curve.verify` ignores libsignal's boolean, so any signature passes: the
 * server's Noise certificate chain and the account signature of pair-success go unchecked. Its
 * own code calls `Curve.verify` as a property of the object exported by Utils/crypto.js, which is
 * the object re-exported by the package root, so replacing the property fixes every caller.
 *
 * Also sets `WA_CERT_DETAILS.PUBLIC_KEY` (the Noise root) to `noiseRootPublicKeyHex` when given,
 * or back to WhatsApp's key when not. Idempotent; call before any socket opens.
 * @throws Error when verification still accepts a wrong signature: the daemon must not start.
 */
export function hardenBaileys({ noiseRootPublicKeyHex, logger }: HardenBaileysOptions): void {
  const current = Curve.verify as Verify & { [HARDENED]?: true };
  if (!current[HARDENED]) {
    const hardened: Verify & { [HARDENED]?: true } = (pubKey, message, signature) =>
      verifySignature(pubKey, message, signature);
    hardened[HARDENED] = true;
    Curve.verify = hardened;
  }
  selfCheck();

  whatsappRootKey ??= WA_CERT_DETAILS.PUBLIC_KEY;
  if (noiseRootPublicKeyHex) {
    WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(noiseRootPublicKeyHex, 'hex');
    logger.warn(
      { noiseRootPublicKey: noiseRootPublicKeyHex },
      'WA_NOISE_ROOT_PUBLIC_KEY is set: trusting a non-WhatsApp Noise root (simulators only)',
    );
  } else {
    WA_CERT_DETAILS.PUBLIC_KEY = whatsappRootKey;
  }
}

function selfCheck(): void {
  const signer = Curve.generateKeyPair();
  const stranger = Curve.generateKeyPair();
  // Fresh random messages, so the memo cannot answer for a broken verifier.
  const message = createHash('sha256').update(signer.public).digest();
  const signature = Curve.sign(signer.private, message);
  const tampered = Buffer.from(signature);
  tampered[0] ^= 1;
  const fails = [
    Curve.verify(stranger.public, message, signature),
    Curve.verify(signer.public, Buffer.concat([message, Buffer.from([1])]), signature),
    Curve.verify(signer.public, message, tampered),
  ];
  if (fails.some(Boolean)) {
    throw new Error('Baileys Curve.verify accepts a wrong signature; refusing to start');
  }
  if (!Curve.verify(signer.public, message, signature)) {
    throw new Error('Baileys Curve.verify rejects a valid signature; refusing to start');
  }
}
