import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/persistence/database.js';
import { createKeyring } from '../../src/persistence/secret-box.js';
import { createSessionRepository } from '../../src/persistence/session-repository.js';
import type { PersistenceFixture } from '../persistence/helpers.js';
import { silentLogger } from '../persistence/helpers.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { authSnapshot, countRows, seedPairedSession } from './helpers.js';

const PASSPHRASE = 'operator passphrase for the move';
const key = randomBytes(32);
const keyring = createKeyring(key);
// A server database when TEST_DATABASE_URL is set, else the CLI's own embedded PGlite under DATA_DIR.
const useServer = Boolean(process.env.TEST_DATABASE_URL?.trim());
let database: TestDatabase | undefined;
let dir: string;

/** Opens the database the CLI uses, runs `fn`, closes it (the embedded one allows one process at a time). */
async function withDb<T>(fn: (fx: PersistenceFixture) => Promise<T>): Promise<T> {
  const db = await openDatabase({
    databaseUrl: database?.url,
    dataDir: join(dir, 'data'),
    logger: silentLogger,
  });
  try {
    const repo = createSessionRepository({ orm: db.orm, keyring });
    return await fn({
      db,
      orm: db.orm,
      key,
      keyring,
      repo,
      testDb: database as TestDatabase,
      sql: (query, params = []) => db.orm.em.fork().execute(query, params),
      close: () => db.close(),
    });
  } finally {
    await db.close();
  }
}

function cli(args: string[], extraEnv: Record<string, string> = {}) {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    SESSION_ENCRYPTION_KEY: key.toString('base64'),
    DATA_DIR: join(dir, 'data'),
    ...(database ? { DATABASE_URL: database.url } : {}),
    ...extraEnv,
  };
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      'npm',
      ['run', '--silent', 'backup', '--', ...args],
      { env, cwd: process.cwd() },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

let sessionId: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wa-backup-cli-'));
  if (useServer) database = await createTestDatabase(import.meta.url);
  sessionId = await withDb(async (fx) => (await seedPairedSession(fx)).id);
});
afterAll(async () => {
  await database?.drop();
  await rm(dir, { recursive: true, force: true });
});

describe('npm run backup', { timeout: 120_000 }, () => {
  it('exports with BACKUP_PASSPHRASE and imports the file as a new session of --user', async () => {
    const out = join(dir, 'backup.json');
    const exported = await cli(['export', String(sessionId), '--out', out], {
      BACKUP_PASSPHRASE: PASSPHRASE,
    });
    expect(exported).toMatchObject({ code: 0, stdout: `exported session ${sessionId} to ${out} (scrypt)\n` });
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    const file = JSON.parse(await readFile(out, 'utf8'));
    expect(file).toMatchObject({
      format: 'wa-supervisor/session-backup',
      version: 1,
      encryption: { kdf: 'scrypt' },
    });

    const imported = await cli(['import', out, '--user', '9'], { BACKUP_PASSPHRASE: PASSPHRASE });
    expect(imported.code).toBe(0);
    const created = Number(/as session (\d+) of user 9/.exec(imported.stdout)?.[1]);
    expect(imported.stderr).toContain('440');
    await withDb(async (fx) => {
      expect(await fx.repo.get(created)).toMatchObject({
        usuarioId: 9,
        status: 'idle',
        desiredState: 'stopped',
      });
      expect(await authSnapshot(fx.orm, keyring, created)).toEqual(
        await authSnapshot(fx.orm, keyring, sessionId),
      );
    });
  });

  it('uses the server key without BACKUP_PASSPHRASE', async () => {
    const out = join(dir, 'server-key.json');
    expect((await cli(['export', String(sessionId), '--out', out])).code).toBe(0);
    expect(JSON.parse(await readFile(out, 'utf8')).encryption).toMatchObject({
      kdf: 'server-key',
      key_id: keyring.currentKeyId,
    });
    const other = await cli(['import', out, '--user', '9'], {
      SESSION_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    });
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(
      /^backup: the backup was encrypted with server key [0-9a-f]{8}, which this server does not hold/,
    );
  });

  it('fails with one line and exit code 1, writing nothing, on a wrong passphrase', async () => {
    const out = join(dir, 'wrong.json');
    expect(
      (await cli(['export', String(sessionId), '--out', out], { BACKUP_PASSPHRASE: PASSPHRASE })).code,
    ).toBe(0);
    const before = await withDb(countRows);
    const result = await cli(['import', out, '--user', '9'], {
      BACKUP_PASSPHRASE: 'not the right passphrase',
    });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^backup: the backup cannot be decrypted: either the passphrase is wrong/);
    expect(result.stderr).not.toContain('not the right passphrase');
    expect(await withDb(countRows)).toEqual(before);
  });

  it('refuses a short passphrase, an existing file, a passphrase on argv and a bad command line', async () => {
    const short = await cli(['export', String(sessionId), '--out', join(dir, 'short.json')], {
      BACKUP_PASSPHRASE: 'too short',
    });
    expect(short).toMatchObject({
      code: 1,
      stderr: 'backup: the backup passphrase must be at least 12 characters long\n',
    });
    const exists = await cli(['export', String(sessionId), '--out', join(dir, 'backup.json')]);
    expect(exists).toMatchObject({
      code: 1,
      stderr: 'backup: the output file exists (use --force to overwrite it)\n',
    });
    const argv = await cli([
      'import',
      join(dir, 'backup.json'),
      '--user',
      '9',
      '--passphrase',
      'secret secret',
    ]);
    expect(argv.code).toBe(2);
    expect(argv.stderr).toContain('BACKUP_PASSPHRASE, never on the command line');
    expect((await cli(['import', join(dir, 'backup.json')])).code).toBe(2);
    expect((await cli(['restore', '1'])).code).toBe(2);
    const missing = await cli(['export', '424242', '--out', join(dir, 'none.json')]);
    expect(missing).toMatchObject({ code: 1, stderr: 'backup: session 424242 not found\n' });
  });
});
