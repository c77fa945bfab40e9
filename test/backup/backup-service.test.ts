import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupError, type BackupFile } from '../../src/backup/backup-file.js';
import { backupToText, createBackupService, readSessionAuth } from '../../src/backup/backup-service.js';
import { createKeyring } from '../../src/persistence/secret-box.js';
import { createSessionRepository } from '../../src/persistence/session-repository.js';
import { openFixture, type PersistenceFixture } from '../persistence/helpers.js';
import { authSnapshot, countRows, PROXY_URL, seedPairedSession } from './helpers.js';

const PASSPHRASE = 'a long enough backup passphrase';

let source: PersistenceFixture;
let target: PersistenceFixture;
let seeded: Awaited<ReturnType<typeof seedPairedSession>>;

beforeAll(async () => {
  source = await openFixture(`${import.meta.url}-source`);
  target = await openFixture(`${import.meta.url}-target`);
  seeded = await seedPairedSession(source);
});
afterAll(async () => {
  await source?.close();
  await target?.close();
});

const exporter = () => createBackupService({ orm: source.orm, keyring: source.keyring });
const importer = (keyring = target.keyring) => createBackupService({ orm: target.orm, keyring });

async function expectRejected(run: () => Promise<unknown>, code: string, status: number) {
  const before = await countRows(target);
  const err = await run().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(BackupError);
  expect(err).toMatchObject({ code, status });
  expect(await countRows(target)).toEqual(before);
  return err as BackupError;
}

describe('export', () => {
  it('writes the contract fields, masks the proxy password and leaks no key material', async () => {
    const file = await exporter().exportSession(seeded.id, { passphrase: PASSPHRASE });
    expect(file).toMatchObject({
      format: 'wa-supervisor/session-backup',
      version: 1,
      session_id: seeded.id,
      usuario_id: 1,
      device_name: 'DX Connect Web',
      phone_number: '5511988887777',
      auto_reconnect: true,
      proxy_enabled: true,
      proxy_url: 'http://proxyuser:***@proxy.example.com:8080',
      connected_at: null,
      encryption: { cipher: 'aes-256-gcm', kdf: 'scrypt', N: 32768, r: 8, p: 1 },
    });
    expect(Buffer.from(file.encryption.iv, 'base64')).toHaveLength(12);
    expect(Buffer.from((file.encryption as { salt: string }).salt, 'base64')).toHaveLength(16);
    expect(new Date(file.export_timestamp).getTime()).toBeGreaterThan(Date.now() - 60_000);

    const text = backupToText(file);
    for (const secret of [
      seeded.noisePrivate,
      seeded.identityPrivate,
      Buffer.from(seeded.advSecretKey, 'base64'),
    ]) {
      for (const form of [secret.toString('base64'), secret.toString('hex'), secret.toString('base64url')]) {
        expect(text).not.toContain(form);
      }
    }
    expect(text).not.toContain(seeded.advSecretKey);
    expect(text).not.toContain('Pr0xyS3cretPass');
    expect(text).not.toContain(PASSPHRASE);
  });

  it('refuses a passphrase shorter than 12 characters', async () => {
    await expect(exporter().exportSession(seeded.id, { passphrase: 'short pass' })).rejects.toMatchObject({
      code: 'weak_passphrase',
      status: 400,
    });
  });

  it('refuses a session that was never paired (409) and an unknown or foreign one (404)', async () => {
    const repo = createSessionRepository({ orm: source.orm, keyring: source.keyring });
    const fresh = await repo.create({ usuarioId: 1, deviceName: 'never paired' });
    await expect(exporter().exportSession(fresh.id)).rejects.toMatchObject({
      code: 'not_paired',
      status: 409,
    });
    await expect(exporter().exportSession(999_999)).rejects.toMatchObject({
      code: 'session_not_found',
      status: 404,
    });
    await expect(exporter().exportSession(seeded.id, { usuarioId: 2 })).rejects.toMatchObject({
      code: 'session_not_found',
      status: 404,
    });
  });
});

describe('import', () => {
  it('restores creds, every key and the proxy as a new stopped session of the caller', async () => {
    const file = await exporter().exportSession(seeded.id, { passphrase: PASSPHRASE });
    const { sessionId } = await importer().importSession(backupToText(file), {
      passphrase: PASSPHRASE,
      usuarioId: 42,
    });

    const restored = await target.repo.get(sessionId);
    expect(restored).toMatchObject({
      usuarioId: 42,
      deviceName: 'DX Connect Web',
      phoneNumber: '5511988887777',
      status: 'idle',
      desiredState: 'stopped',
      autoReconnect: true,
      proxyEnabled: true,
      proxyUrl: PROXY_URL,
    });
    const before = await authSnapshot(source.orm, source.keyring, seeded.id);
    const after = await authSnapshot(target.orm, target.keyring, sessionId);
    expect(Object.keys(before.keys)).toHaveLength(11);
    expect(after).toEqual(before);
    // Re-encrypted with the target's key: the source's keyring cannot open the new rows.
    await expect(readSessionAuth(target.orm, source.keyring, sessionId)).rejects.toThrow(/cannot decrypt/);
  });

  it('gives a second session when the same file is imported twice', async () => {
    const file = await exporter().exportSession(seeded.id, { passphrase: PASSPHRASE });
    const a = await importer().importSession(file, { passphrase: PASSPHRASE, usuarioId: 7 });
    const b = await importer().importSession(file, { passphrase: PASSPHRASE, usuarioId: 7 });
    expect(a.sessionId).not.toBe(b.sessionId);
  });
});

describe('server-key mode', () => {
  it('round-trips on a server holding the same key, also after a rotation', async () => {
    const file = await exporter().exportSession(seeded.id);
    expect(file.encryption).toEqual({
      cipher: 'aes-256-gcm',
      kdf: 'server-key',
      key_id: source.keyring.currentKeyId,
      iv: expect.any(String),
    });
    const same = await importer(createKeyring(source.key)).importSession(file, { usuarioId: 3 });
    const rotated = await importer(createKeyring(randomBytes(32), [source.key])).importSession(file, {
      usuarioId: 3,
    });
    const before = await authSnapshot(source.orm, source.keyring, seeded.id);
    expect(await authSnapshot(target.orm, createKeyring(source.key), same.sessionId)).toEqual(before);
    expect(rotated.sessionId).toBeGreaterThan(same.sessionId);
  });

  it('is refused (422) by a server with another key', async () => {
    const file = await exporter().exportSession(seeded.id);
    const err = await expectRejected(
      () => importer().importSession(file, { usuarioId: 3 }),
      'unknown_server_key',
      422,
    );
    expect(err.message).toContain(source.keyring.currentKeyId);
  });
});

describe('a damaged or tampered file writes nothing', () => {
  let file: BackupFile;
  beforeAll(async () => {
    file = await exporter().exportSession(seeded.id, { passphrase: PASSPHRASE });
  });
  const importing = (f: unknown, passphrase = PASSPHRASE) =>
    importer().importSession(f, { passphrase, usuarioId: 5 });

  it.each([
    ['device_name', (f: BackupFile) => ({ ...f, device_name: 'Evil Web' })],
    ['usuario_id', (f: BackupFile) => ({ ...f, usuario_id: 2 })],
    ['export_timestamp', (f: BackupFile) => ({ ...f, export_timestamp: new Date(0).toISOString() })],
    ['proxy_url', (f: BackupFile) => ({ ...f, proxy_url: null })],
    [
      'encryption.salt',
      (f: BackupFile) => ({
        ...f,
        encryption: { ...f.encryption, salt: randomBytes(16).toString('base64') },
      }),
    ],
    [
      'encryption.iv',
      (f: BackupFile) => ({ ...f, encryption: { ...f.encryption, iv: randomBytes(12).toString('base64') } }),
    ],
  ])('an edited %s → 422', async (_field, edit) => {
    const err = await expectRejected(() => importing(edit(file)), 'decryption_failed', 422);
    expect(err.message).toMatch(/wrong|altered/);
  });

  it('an edited version → 422 naming the supported versions', async () => {
    const err = await expectRejected(() => importing({ ...file, version: 2 }), 'unsupported_version', 422);
    expect(err.message).toContain('supported versions: 1');
  });

  it('a flipped byte anywhere in session_data → 422', async () => {
    const data = Buffer.from(file.session_data, 'base64');
    for (const at of [
      0,
      1,
      Math.floor(data.length / 2),
      data.length - 17,
      data.length - 16,
      data.length - 1,
    ]) {
      const flipped = Buffer.from(data);
      flipped[at] ^= 0x01;
      await expectRejected(
        () => importing({ ...file, session_data: flipped.toString('base64') }),
        'decryption_failed',
        422,
      );
    }
  });

  it('a wrong passphrase → 422 that does not echo it', async () => {
    const err = await expectRejected(
      () => importing(file, 'the wrong passphrase!'),
      'decryption_failed',
      422,
    );
    expect(err.message).toContain('passphrase is wrong');
    expect(err.message).not.toContain('the wrong passphrase!');
  });

  it('a truncated file, wrong types and bad base64 → 422', async () => {
    const text = backupToText(file);
    await expectRejected(() => importing(text.slice(0, text.length / 2)), 'invalid_backup', 422);
    await expectRejected(() => importing({ ...file, auto_reconnect: 'yes' }), 'invalid_backup', 422);
    await expectRejected(
      () => importing({ ...file, session_data: `${file.session_data.slice(1)}` }),
      'invalid_backup',
      422,
    );
    const shortened = Buffer.from(file.session_data, 'base64').subarray(0, 40).toString('base64');
    await expectRejected(() => importing({ ...file, session_data: shortened }), 'decryption_failed', 422);
    await expectRejected(() => importing({ ...file, encryption: 'scrypt' }), 'invalid_backup', 422);
  });

  it('a missing passphrase → 422 asking for it', async () => {
    await expectRejected(() => importing(file, ''), 'passphrase_required', 422);
  });
});

describe('the import transaction', () => {
  it('writes nothing when a key row fails half-way', async () => {
    const file = await exporter().exportSession(seeded.id, { passphrase: PASSPHRASE });
    let seals = 0;
    const failing = {
      ...target.keyring,
      currentKeyId: target.keyring.currentKeyId,
      seal(plaintext: Buffer | string, aad: string) {
        if (++seals === 6) throw new Error('disk on fire');
        return target.keyring.seal(plaintext, aad);
      },
    };
    const before = await countRows(target);
    await expect(
      importer(failing).importSession(file, { passphrase: PASSPHRASE, usuarioId: 5 }),
    ).rejects.toThrow('disk on fire');
    expect(seals).toBe(6);
    expect(await countRows(target)).toEqual(before);
  });

  it('rejects decrypted creds that Baileys cannot log in with, naming the field', async () => {
    const { sealBackup } = await import('../../src/backup/backup-file.js');
    const { encodeSessionPayload } = await import('../../src/backup/session-payload.js');
    const { creds, keys } = await readSessionAuth(source.orm, source.keyring, seeded.id);
    const file = await exporter().exportSession(seeded.id, { passphrase: PASSPHRASE });
    const { session_data: _, format: __, version: ___, encryption: ____, ...metadata } = file;
    for (const [broken, message] of [
      [{ ...creds!, me: undefined }, /creds.me.id is missing/],
      [{ ...creds!, noiseKey: { public: creds!.noiseKey.public } }, /creds.noiseKey must be a key pair/],
      [{ ...creds!, registrationId: 'x' }, /creds.registrationId/],
    ] as const) {
      const plaintext = encodeSessionPayload({ creds: broken as never, keys, proxyUrl: null });
      const forged = await sealBackup(metadata, plaintext, {
        passphrase: PASSPHRASE,
        keyring: source.keyring,
      });
      const err = await expectRejected(
        () => importer().importSession(forged, { passphrase: PASSPHRASE, usuarioId: 5 }),
        'invalid_backup',
        422,
      );
      expect(err.message).toMatch(message);
    }
  });
});
