import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  BackupError,
  type BackupFile,
  backupAad,
  canonicalJson,
  openBackup,
  parseBackupText,
  SERVER_KEY_INFO,
  sealBackup,
} from '../../src/backup/backup-file.js';
import { createKeyring } from '../../src/persistence/secret-box.js';

// The byte format in one example, for other tools (src/backup/README.md repeats it).
const VECTOR = {
  passphrase: 'correct horse battery staple',
  salt: Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'),
  iv: Buffer.from('a0a1a2a3a4a5a6a7a8a9aaab', 'hex'),
  key: '7a8e34241db898d59175c696538c417467a975ffe569068425f16188d3159c58',
  plaintext: '{"creds":{},"keys":{},"proxy_url":null}',
  metadata: {
    session_id: 1,
    usuario_id: 1,
    device_name: 'DX Connect Web',
    phone_number: '5511999999999',
    auto_reconnect: true,
    proxy_enabled: false,
    proxy_url: 'http://user:***@proxy.example.com:8080',
    created_at: '2025-01-02T03:04:05.000Z',
    connected_at: '2025-01-02T03:05:00.000Z',
    export_timestamp: '2025-02-03T04:05:06.000Z',
  },
  aad:
    '{"auto_reconnect":true,"connected_at":"2025-01-02T03:05:00.000Z","created_at":"2025-01-02T03:04:05.000Z",' +
    '"device_name":"DX Connect Web","encryption":{"N":32768,"cipher":"aes-256-gcm","iv":"oKGio6Slpqeoqaqr",' +
    '"kdf":"scrypt","p":1,"r":8,"salt":"AAECAwQFBgcICQoLDA0ODw=="},"export_timestamp":"2025-02-03T04:05:06.000Z",' +
    '"format":"wa-supervisor/session-backup","phone_number":"5511999999999","proxy_enabled":false,' +
    '"proxy_url":"http://user:***@proxy.example.com:8080","session_id":1,"usuario_id":1,"version":1}',
  sessionData: 'Zp0tBULm2dcQ3qYX4GAc148gGZh47ct/jxF1uGNDeFo+1AParT6Hk+zkLcNYlhkqCj79n3PJSg==',
};

const keyring = createKeyring(randomBytes(32));

describe('canonicalJson', () => {
  it('sorts keys at every level and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: null, y: 'é"' }], c: true } })).toBe(
      '{"a":{"c":true,"d":[3,{"y":"é\\"","z":null}]},"b":1}',
    );
  });
});

describe('the version-1 byte format (test vector)', () => {
  it('builds exactly the documented file from a known passphrase, salt and IV', async () => {
    const file = await sealBackup(VECTOR.metadata, Buffer.from(VECTOR.plaintext), {
      passphrase: VECTOR.passphrase,
      keyring,
      salt: VECTOR.salt,
      iv: VECTOR.iv,
    });
    expect(backupAad(file as unknown as Record<string, unknown>)).toBe(VECTOR.aad);
    expect(file.session_data).toBe(VECTOR.sessionData);
    expect(Object.keys(file)).toEqual([
      'format',
      'version',
      ...Object.keys(VECTOR.metadata),
      'encryption',
      'session_data',
    ]);
  });

  it('is AES-256-GCM over the plaintext with the scrypt key and the canonical AAD, tag appended', () => {
    const cipher = createCipheriv('aes-256-gcm', Buffer.from(VECTOR.key, 'hex'), VECTOR.iv);
    cipher.setAAD(Buffer.from(VECTOR.aad, 'utf8'));
    const data = Buffer.concat([
      cipher.update(VECTOR.plaintext, 'utf8'),
      cipher.final(),
      cipher.getAuthTag(),
    ]);
    expect(data.toString('base64')).toBe(VECTOR.sessionData);
  });

  it('decrypts the vector whatever the key order and layout of the file', async () => {
    const text = JSON.stringify(
      {
        session_data: VECTOR.sessionData,
        encryption: {
          iv: VECTOR.iv.toString('base64'),
          p: 1,
          r: 8,
          N: 32768,
          salt: VECTOR.salt.toString('base64'),
          kdf: 'scrypt',
          cipher: 'aes-256-gcm',
        },
        ...VECTOR.metadata,
        version: 1,
        format: 'wa-supervisor/session-backup',
      },
      null,
      4,
    );
    const { plaintext } = await openBackup(parseBackupText(text), { passphrase: VECTOR.passphrase, keyring });
    expect(plaintext.toString('utf8')).toBe(VECTOR.plaintext);
  });
});

describe('server-key mode', () => {
  it('uses HKDF-SHA256 of the server key with the fixed label, and names the key id', async () => {
    const raw = randomBytes(32);
    const ring = createKeyring(raw);
    const file = await sealBackup(VECTOR.metadata, Buffer.from(VECTOR.plaintext), { keyring: ring });
    expect(file.encryption).toEqual({
      cipher: 'aes-256-gcm',
      kdf: 'server-key',
      key_id: ring.currentKeyId,
      iv: expect.any(String),
    });
    expect(SERVER_KEY_INFO).toBe('wa-supervisor/session-backup/v1/server-key');
    const { plaintext } = await openBackup(file, { keyring: createKeyring(randomBytes(32), [raw]) });
    expect(plaintext.toString()).toBe(VECTOR.plaintext);
  });
});

describe('openBackup', () => {
  const sealed = () =>
    sealBackup(VECTOR.metadata, Buffer.from(VECTOR.plaintext), { passphrase: VECTOR.passphrase, keyring });
  const rejects = async (file: unknown, code: string, message: RegExp, passphrase = VECTOR.passphrase) => {
    const err = await openBackup(file, { passphrase, keyring }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupError);
    expect(err).toMatchObject({ code });
    expect((err as Error).message).toMatch(message);
    if (passphrase) expect((err as Error).message).not.toContain(passphrase);
  };

  it('names the supported versions when the version is another', async () => {
    await rejects(
      { ...(await sealed()), version: 2 },
      'unsupported_version',
      /version 2; supported versions: 1/,
    );
  });

  it('says which field is wrong', async () => {
    const file = await sealed();
    await rejects({ ...file, format: 'other' }, 'invalid_backup', /format must be/);
    await rejects({ ...file, session_id: '1' }, 'invalid_backup', /session_id must be a positive integer/);
    await rejects(
      { ...file, session_data: 'not base64!' },
      'invalid_backup',
      /session_data is not valid base64/,
    );
    await rejects({ ...file, encryption: { ...file.encryption, N: 3 } }, 'invalid_backup', /encryption.N/);
    await rejects({ ...file, encryption: { ...file.encryption, kdf: 'pbkdf2' } }, 'invalid_backup', /kdf/);
    await rejects([], 'invalid_backup', /JSON object/);
  });

  it('asks for a passphrase when the file has one', async () => {
    await rejects(await sealed(), 'passphrase_required', /X-Backup-Passphrase/, '');
  });

  it('rejects a truncated file as invalid JSON', () => {
    const text = JSON.stringify({ format: 'wa-supervisor/session-backup', version: 1 });
    expect(() => parseBackupText(text.slice(0, -5))).toThrow(/not valid JSON/);
  });

  it('never accepts a file built with another AAD', async () => {
    const file = (await sealed()) as BackupFile & Record<string, unknown>;
    await rejects({ ...file, extra: 1 }, 'decryption_failed', /altered/);
  });
});
