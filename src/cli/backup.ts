import { access, readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BackupError, MIN_PASSPHRASE_LENGTH } from '../backup/backup-file.js';

// npm run backup -- export <session id> --out <file> [--force]
// npm run backup -- import <file> --user <usuario id>
// Against DATABASE_URL, or the embedded database under DATA_DIR (stop the daemon first).
// The passphrase comes from BACKUP_PASSPHRASE only; unset, the file is bound to SESSION_ENCRYPTION_KEY.

const USAGE =
  'usage: npm run backup -- export <session id> --out <file> [--force] | import <file> --user <usuario id>';

/** A wrong command line: exit code 2. */
class UsageError extends Error {}

/** Max size of a backup file read by import, like the API's body limit. */
const MAX_FILE_BYTES = 5 * 1024 * 1024;

const env = process.env;

function parseArgs(argv: string[]) {
  const [command, target, ...rest] = argv;
  const flags = new Map<string, string | true>();
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === '--force') flags.set('force', true);
    else if (arg === '--out' || arg === '--user') {
      const value = rest[++i];
      if (value === undefined) throw new UsageError(`${arg} needs a value`);
      flags.set(arg.slice(2), value);
    } else if (/^--?pass/i.test(arg)) {
      throw new UsageError('give the passphrase in BACKUP_PASSPHRASE, never on the command line');
    } else throw new UsageError(`unknown argument ${JSON.stringify(arg.slice(0, 40))}`);
  }
  if (command !== 'export' && command !== 'import') throw new UsageError('the command is export or import');
  if (!target) throw new UsageError(command === 'export' ? 'which session id?' : 'which file?');
  return { command, target, flags };
}

function positiveInt(value: string | true | undefined, what: string): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`${what} must be a positive integer`);
  return n;
}

async function main(): Promise<void> {
  const { command, target, flags } = parseArgs(process.argv.slice(2));
  const passphrase = env.BACKUP_PASSPHRASE || undefined;
  const sessionId = command === 'export' ? positiveInt(target, 'the session id') : 0;
  const out = flags.get('out');
  if (command === 'export' && typeof out !== 'string') throw new UsageError('export needs --out <file>');
  const usuarioId = command === 'import' ? positiveInt(flags.get('user'), '--user') : 0;

  // Cheap checks before the database and Baileys are loaded, which takes seconds.
  if (command === 'export') {
    if (passphrase !== undefined && [...passphrase].length < MIN_PASSPHRASE_LENGTH) {
      throw new BackupError(
        'weak_passphrase',
        `the backup passphrase must be at least ${MIN_PASSPHRASE_LENGTH} characters long`,
      );
    }
    if (
      !flags.has('force') &&
      (await access(out as string).then(
        () => true,
        () => false,
      ))
    ) {
      throw Object.assign(new Error('exists'), { code: 'EEXIST' });
    }
  }

  let input: Buffer | undefined;
  if (command === 'import') {
    input = await readFile(target);
    if (input.length > MAX_FILE_BYTES)
      throw new BackupError('invalid_backup', 'the backup file is larger than 5 MB');
  }

  const [
    { pino },
    { backupToText, createBackupService, DUPLICATE_IMPORT_WARNING },
    { createLogger },
    { openDatabase },
    { loadKeyring },
  ] = await Promise.all([
    import('pino'),
    import('../backup/backup-service.js'),
    import('../logger.js'),
    import('../persistence/database.js'),
    import('../persistence/secret-box.js'),
  ]);
  const logger = createLogger({
    level: env.LOG_LEVEL === 'debug' ? 'debug' : 'warn',
    destination: pino.destination(2),
  });
  const dataDir = resolve(env.DATA_DIR?.trim() || './data');
  const keyring = await loadKeyring({ env, dataDir, logger });
  const db = await openDatabase({ databaseUrl: env.DATABASE_URL?.trim() || undefined, dataDir, logger });
  try {
    const backups = createBackupService({ orm: db.orm, keyring });
    if (command === 'export') {
      const file = await backups.exportSession(sessionId, { passphrase });
      // 0600 and no silent overwrite: the file holds the account's keys.
      await writeFile(out as string, backupToText(file), {
        mode: 0o600,
        flag: flags.has('force') ? 'w' : 'wx',
      });
      process.stdout.write(`exported session ${sessionId} to ${out} (${file.encryption.kdf})\n`);
    } else {
      const { sessionId: created } = await backups.importSession(input!, { passphrase, usuarioId });
      process.stdout.write(`imported ${target} as session ${created} of user ${usuarioId} (stopped)\n`);
      process.stderr.write(`warning: ${DUPLICATE_IMPORT_WARNING}\n`);
    }
  } finally {
    await db.close();
  }
}

try {
  await main();
} catch (err) {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as NodeJS.ErrnoException).code;
  const line = code === 'EEXIST' ? 'the output file exists (use --force to overwrite it)' : message;
  process.stderr.write(`backup: ${line.split('\n')[0]}\n`);
  if (err instanceof UsageError) process.stderr.write(`${USAGE}\n`);
  process.exitCode = err instanceof UsageError ? 2 : 1;
}
