import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createKeyring,
  DecryptionError,
  EncryptionKeyError,
  GENERATED_KEY_FILE,
  keyIdOf,
  loadKeyring,
  rowAad,
} from '../../src/persistence/secret-box.js';

const dirs: string[] = [];
const tempDir = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'wa-keyring-'));
  dirs.push(dir);
  return dir;
};
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A logger whose JSON lines land in `lines`. */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

describe('keyring', () => {
  it('seals with a fresh IV each time and opens with the same associated data only', () => {
    const ring = createKeyring(randomBytes(32));
    const aad = rowAad(7, 'pre-key', '12');
    const a = ring.seal('secret', aad);
    const b = ring.seal('secret', aad);
    expect(a.data.subarray(0, 12)).not.toEqual(b.data.subarray(0, 12));
    expect(a.keyId).toBe(ring.currentKeyId);
    expect(ring.open(a, aad, 'row').toString()).toBe('secret');
    expect(() => ring.open(a, rowAad(7, 'pre-key', '13'), 'row')).toThrow(DecryptionError);
    expect(() => ring.open(a, rowAad(8, 'pre-key', '12'), 'row')).toThrow(DecryptionError);
  });

  it('reads values of the previous key and writes with the current one', () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const sealed = createKeyring(oldKey).seal('v', 'aad');
    const ring = createKeyring(newKey, [oldKey]);
    expect(ring.keyIds).toEqual([keyIdOf(newKey), keyIdOf(oldKey)]);
    expect(ring.open(sealed, 'aad', 'row').toString()).toBe('v');
    expect(ring.seal('v', 'aad').keyId).toBe(keyIdOf(newKey));
    expect(() => createKeyring(newKey).open(sealed, 'aad', 'row')).toThrow(/not configured/);
  });

  it('names the key by the first 8 hex digits of its sha256', () => {
    expect(keyIdOf(Buffer.alloc(32))).toBe('66687aad');
  });
});

describe('loadKeyring', () => {
  it('uses SESSION_ENCRYPTION_KEY and SESSION_ENCRYPTION_KEY_PREVIOUS', async () => {
    const key = randomBytes(32);
    const previous = randomBytes(32);
    const ring = await loadKeyring({
      env: {
        SESSION_ENCRYPTION_KEY: key.toString('base64'),
        SESSION_ENCRYPTION_KEY_PREVIOUS: previous.toString('base64'),
      },
      dataDir: await tempDir(),
      logger: capture().logger,
    });
    expect(ring.keyIds).toEqual([keyIdOf(key), keyIdOf(previous)]);
  });

  it('refuses to start in production without a key', async () => {
    await expect(
      loadKeyring({ env: { NODE_ENV: 'production' }, dataDir: await tempDir(), logger: capture().logger }),
    ).rejects.toThrow(new EncryptionKeyError('SESSION_ENCRYPTION_KEY is required when NODE_ENV=production'));
  });

  it('rejects a malformed key without echoing it', async () => {
    const bad = randomBytes(16).toString('base64');
    const err = await loadKeyring({
      env: { SESSION_ENCRYPTION_KEY: bad },
      dataDir: await tempDir(),
      logger: capture().logger,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EncryptionKeyError);
    expect((err as Error).message).toBe(
      'SESSION_ENCRYPTION_KEY must be 32 bytes encoded as base64 (44 characters)',
    );
    expect((err as Error).message).not.toContain(bad);
  });

  it('generates a development key once into DATA_DIR (mode 0600), with a warning', async () => {
    const dataDir = await tempDir();
    const { logger, lines } = capture();
    const first = await loadKeyring({ env: {}, dataDir, logger });
    const file = join(dataDir, GENERATED_KEY_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(keyIdOf(Buffer.from((await readFile(file, 'utf8')).trim(), 'base64'))).toBe(first.currentKeyId);
    expect(lines.find((l) => l.level === 40)?.msg).toMatch(/SESSION_ENCRYPTION_KEY is unset/);

    const second = await loadKeyring({ env: {}, dataDir, logger });
    expect(second.currentKeyId).toBe(first.currentKeyId);
  });
});
