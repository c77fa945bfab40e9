import { randomBytes } from 'node:crypto';
import { Curve, WA_CERT_DETAILS } from '@whiskeysockets/baileys';
// The object Baileys' own noise-handler.js and validate-connection.js import.
import { Curve as InternalCurve } from '@whiskeysockets/baileys/lib/Utils/crypto.js';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { hardenBaileys, verifySignature } from '../src/whatsapp/baileys-hardening.js';

const logger = pino({ level: 'silent' });
const stockVerify = Curve.verify;
const whatsappRootKey = WA_CERT_DETAILS.PUBLIC_KEY;

const signed = () => {
  const signer = Curve.generateKeyPair();
  const message = randomBytes(48);
  const signature = Buffer.from(Curve.sign(signer.private, message));
  return { signer, message, signature };
};

describe('Baileys 7.0.0-rc14 Curve.verify, as shipped', () => {
  it('accepts any signature (why the daemon hardens it)', () => {
    const { signer, message, signature } = signed();
    expect(stockVerify(Curve.generateKeyPair().public, message, signature)).toBe(true);
    expect(stockVerify(signer.public, randomBytes(48), signature)).toBe(true);
    expect(stockVerify(signer.public, message, randomBytes(64))).toBe(true);
  });

  it('is one object shared by the package root and Baileys internals', () => {
    expect(InternalCurve).toBe(Curve);
  });
});

describe('hardenBaileys', () => {
  it('makes Baileys reject wrong keys, messages and signatures and accept right ones', () => {
    hardenBaileys({ logger });
    expect(Curve.verify).not.toBe(stockVerify);
    expect(InternalCurve.verify).toBe(Curve.verify);

    const { signer, message, signature } = signed();
    const flipped = Buffer.from(signature);
    flipped[10] ^= 0x40;
    expect(Curve.verify(Curve.generateKeyPair().public, message, signature)).toBe(false);
    expect(Curve.verify(signer.public, Buffer.concat([message, Buffer.from([0])]), signature)).toBe(false);
    expect(Curve.verify(signer.public, message, flipped)).toBe(false);
    expect(Curve.verify(signer.public, message, signature)).toBe(true);
    // 33-byte keys with the DJB type prefix, as libsignal stores them
    expect(Curve.verify(Buffer.concat([Buffer.from([5]), signer.public]), message, signature)).toBe(true);
  });

  it('answers malformed input with false, never a throw (noise-handler then rejects with its own error)', () => {
    const { signer, message, signature } = signed();
    const bad = [
      [undefined, message, signature],
      [null, message, signature],
      [signer.public.subarray(0, 31), message, signature],
      [Buffer.concat([Buffer.from([7]), signer.public]), message, signature],
      [signer.public, undefined, signature],
      [signer.public, message, signature.subarray(0, 63)],
      [signer.public, message, 'not bytes'],
    ];
    for (const [key, msg, sig] of bad) {
      expect(verifySignature(key as Uint8Array, msg as Uint8Array, sig as Uint8Array)).toBe(false);
    }
  });

  it('is idempotent', () => {
    hardenBaileys({ logger });
    const hardened = Curve.verify;
    hardenBaileys({ logger });
    expect(Curve.verify).toBe(hardened);
  });

  it('memoises repeated checks of the same certificate', () => {
    const { signer, message, signature } = signed();
    expect(Curve.verify(signer.public, message, signature)).toBe(true);
    const started = performance.now();
    for (let i = 0; i < 50; i++) expect(Curve.verify(signer.public, message, signature)).toBe(true);
    // One uncached check costs ~20 ms of pure JS.
    expect(performance.now() - started).toBeLessThan(100);
  });

  it('trusts a simulator root key when told, with a warning, and WhatsApp’s again when not', () => {
    const lines: { level: number; msg: string }[] = [];
    const capture = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const simKey = Curve.generateKeyPair().public;
    hardenBaileys({ logger: capture, noiseRootPublicKeyHex: Buffer.from(simKey).toString('hex') });
    expect(WA_CERT_DETAILS.PUBLIC_KEY).toEqual(Buffer.from(simKey));
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 40, msg: expect.stringMatching(/simulators/) }),
    );

    hardenBaileys({ logger: capture });
    expect(WA_CERT_DETAILS.PUBLIC_KEY).toEqual(whatsappRootKey);
  });

  it('refuses to start when verification still accepts a wrong signature', () => {
    const hardened = Curve.verify;
    const broken = Object.assign(() => true, { [Symbol.for('wa-supervisor.hardened-verify')]: true });
    Curve.verify = broken;
    try {
      expect(() => hardenBaileys({ logger })).toThrow(/accepts a wrong signature/);
    } finally {
      Curve.verify = hardened;
    }
  });
});
