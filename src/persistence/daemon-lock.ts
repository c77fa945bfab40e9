import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';

/** Another live process holds the DATA_DIR; `message` is one line for the operator. */
export class DataDirLockedError extends Error {
  override readonly name = 'DataDirLockedError';
}

export interface DaemonLock {
  readonly path: string;
  release(): Promise<void>;
}

/** Lock files this process holds: a second open in the same process must fail too. */
const heldHere = new Set<string>();

/**
 * Takes `dataDir/daemon.lock` (holding our pid). A lock left by a dead process is replaced.
 * PGlite does not lock its data directory, and two writers would corrupt it.
 * @throws DataDirLockedError when a live process holds it.
 */
export async function acquireDaemonLock(dataDir: string, logger: Logger): Promise<DaemonLock> {
  await mkdir(dataDir, { recursive: true });
  const path = join(dataDir, 'daemon.lock');
  const content = `${process.pid}\n`;

  for (let tries = 0; ; tries++) {
    if (heldHere.has(path)) throw lockedBy(process.pid, dataDir);
    try {
      const handle = await open(path, 'wx', 0o600);
      try {
        await handle.writeFile(content);
      } finally {
        await handle.close();
      }
      heldHere.add(path);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || tries >= 3) throw err;
    }
    const pid = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    // Our own pid, but not held by us: the lock survived a container restart that reused the pid.
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) throw lockedBy(pid, dataDir);
    logger.warn({ path, pid: Number.isInteger(pid) ? pid : null }, 'removing a stale daemon.lock');
    await unlink(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      heldHere.delete(path);
      // Only remove it if it is still ours.
      if ((await readFile(path, 'utf8').catch(() => '')) === content) await unlink(path).catch(() => {});
    },
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function lockedBy(pid: number, dataDir: string): DataDirLockedError {
  return new DataDirLockedError(
    `DATA_DIR ${dataDir} is in use by another wa-supervisor (pid ${pid}, daemon.lock); ` +
      'stop it first, or give this one its own DATA_DIR or a DATABASE_URL',
  );
}
