import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import pino from 'pino';
import { openDatabase } from '../../src/persistence/database.js';
import { createPgAuthStore } from '../../src/persistence/pg-auth-store.js';
import { loadKeyring } from '../../src/persistence/secret-box.js';
import { createSessionRepository } from '../../src/persistence/session-repository.js';

const root = join(import.meta.dirname, '..', '..');

export interface DaemonProcess {
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  exited: Promise<number | null>;
}

/**
 * Runs the daemon as its own process: `src/main.ts` through tsx, the way `npm start` does, or
 * with `compiled` the build in `dist/` (run `npm run build` first), the way the image does.
 */
export function spawnDaemon(
  env: NodeJS.ProcessEnv,
  options: { nodeArgs?: string[]; compiled?: boolean } = {},
): DaemonProcess {
  const entry = options.compiled ? ['dist/src/main.js'] : ['--import', 'tsx', 'src/main.ts'];
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...entry], {
    cwd: root,
    env: { PATH: process.env.PATH, ...env },
    stdio: 'pipe',
  });
  let out = '';
  child.stdout?.on('data', (b) => {
    out += b;
  });
  child.stderr?.on('data', (b) => {
    out += b;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

export interface SeededSession {
  id: number;
  /** hex of the Noise public key the simulator sees */
  noiseKey: string;
  jid: string;
}

/**
 * Stores `count` sessions that look paired (creds with `me`) and should run, straight into the
 * database a daemon will open: what a previous daemon would have left behind.
 */
export async function seedPairedSessions(options: {
  databaseUrl?: string;
  dataDir: string;
  env: Record<string, string | undefined>;
  count: number;
  phonePrefix?: string;
}): Promise<SeededSession[]> {
  const logger = pino({ level: 'silent' });
  const db = await openDatabase({ databaseUrl: options.databaseUrl, dataDir: options.dataDir, logger });
  try {
    const keyring = await loadKeyring({ env: options.env, dataDir: options.dataDir, logger });
    const sessions = createSessionRepository({ orm: db.orm, keyring });
    const auth = createPgAuthStore({ orm: db.orm, keyring, logger });
    const seeded: SeededSession[] = [];
    for (let i = 0; i < options.count; i++) {
      const row = await sessions.create({ usuarioId: 1, deviceName: `fleet ${i}`, desiredState: 'running' });
      const { state, saveCreds } = await auth.open(String(row.id));
      const jid = `${options.phonePrefix ?? '55119'}${String(row.id).padStart(6, '0')}:1@s.whatsapp.net`;
      state.creds.me = { id: jid, name: `fleet ${i}` };
      await saveCreds();
      seeded.push({ id: row.id, noiseKey: Buffer.from(state.creds.noiseKey.public).toString('hex'), jid });
    }
    return seeded;
  } finally {
    await db.close();
  }
}
