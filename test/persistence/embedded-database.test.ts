import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataDirLockedError } from '../../src/persistence/daemon-lock.js';
import { openDatabase } from '../../src/persistence/database.js';
import { createKeyring } from '../../src/persistence/secret-box.js';
import { createSessionRepository } from '../../src/persistence/session-repository.js';

const logger = pino({ level: 'silent' });
const child = fileURLToPath(new URL('../support/open-database-child.ts', import.meta.url));

describe('openDatabase without DATABASE_URL (embedded PGlite)', () => {
  let dataDir: string;
  const keyring = createKeyring(Buffer.alloc(32, 7));

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'wa-embedded-'));
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps sessions across a close and a reopen', { timeout: 90_000 }, async () => {
    const first = await openDatabase({ dataDir, logger });
    expect(first.embedded).toBe(true);
    const created = await createSessionRepository({ orm: first.orm, keyring }).create({
      usuarioId: 9,
      deviceName: 'kept',
      proxyUrl: 'http://u:p@h:1',
    });
    await first.close();
    await expect(readFile(join(dataDir, 'daemon.lock'))).rejects.toThrow(/ENOENT/);

    const second = await openDatabase({ dataDir, logger });
    try {
      const again = await createSessionRepository({ orm: second.orm, keyring }).get(created.id);
      expect(again).toMatchObject({ deviceName: 'kept', usuarioId: 9, proxyUrl: 'http://u:p@h:1' });
    } finally {
      await second.close();
    }
  });

  it('refuses a second open of the same DATA_DIR, in this process and in another', {
    timeout: 90_000,
  }, async () => {
    const db = await openDatabase({ dataDir, logger });
    try {
      const err = await openDatabase({ dataDir, logger }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DataDirLockedError);
      expect((err as Error).message).toBe(
        `DATA_DIR ${dataDir} is in use by another wa-supervisor (pid ${process.pid}, daemon.lock); ` +
          'stop it first, or give this one its own DATA_DIR or a DATABASE_URL',
      );

      const result = await promisify(execFile)(process.execPath, ['--import', 'tsx', child, dataDir]).catch(
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
      expect(result).toMatchObject({ code: 3, stdout: '' });
      expect(result.stderr).toContain(
        `DATA_DIR ${dataDir} is in use by another wa-supervisor (pid ${process.pid}`,
      );
    } finally {
      await db.close();
    }
  });

  it('replaces a lock left by a dead process', { timeout: 90_000 }, async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    await writeFile(join(dataDir, 'daemon.lock'), `${dead}\n`);
    const lines: { msg: string; pid?: number }[] = [];
    const db = await openDatabase({
      dataDir,
      logger: pino({ level: 'warn' }, { write: (l: string) => lines.push(JSON.parse(l)) }),
    });
    try {
      expect(await readFile(join(dataDir, 'daemon.lock'), 'utf8')).toBe(`${process.pid}\n`);
      expect(lines).toContainEqual(
        expect.objectContaining({ msg: 'removing a stale daemon.lock', pid: dead }),
      );
    } finally {
      await db.close();
    }
  });
});
