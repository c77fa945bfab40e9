import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

export interface PgCluster {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` (trust authentication). */
  url: string;
  port: number;
  start(): void;
  /** Fast shutdown: open connections are terminated, as in a real restart. */
  stop(): void;
  /** Stops the cluster (if running) and deletes it. */
  drop(): void;
}

/**
 * Why a throwaway cluster cannot be made here, or null when it can: the Debian tools
 * (`pg_createcluster`, `pg_ctlcluster`) and root, which they need to act as `postgres`.
 */
export function pgClusterUnavailable(): string | null {
  if (!existsSync('/etc/postgresql')) return 'no /etc/postgresql (Debian PostgreSQL packages)';
  for (const tool of ['pg_createcluster', 'pg_ctlcluster', 'pg_dropcluster']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `no ${tool} on PATH`;
  }
  if (process.getuid?.() !== 0) return 'not root (pg_createcluster and pg_ctlcluster need it)';
  return null;
}

const ctl = (args: string[]) =>
  execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', ...args], { stdio: 'pipe' });

/**
 * A PostgreSQL server of its own for a test that restarts the server: the installed version's
 * binaries under `pg_createcluster`/`pg_ctlcluster`, on `port`, so suites using the shared server
 * never see the restart. Named `wa_outage_<pid>`; clusters left by dead processes are dropped first.
 */
export function createPgCluster(port: number): PgCluster {
  const version = readdirSync('/etc/postgresql').sort().at(-1);
  if (!version) throw new Error('no PostgreSQL version under /etc/postgresql');
  for (const name of readdirSync(`/etc/postgresql/${version}`)) {
    const pid = /^wa_outage_(\d+)$/.exec(name)?.[1];
    if (pid && !isAlive(Number(pid))) {
      spawnSync('pg_dropcluster', ['--stop', version, name], { stdio: 'ignore' });
    }
  }
  const name = `wa_outage_${process.pid}`;
  execFileSync('pg_createcluster', [version, name, '-p', String(port), '--', '--auth=trust'], {
    stdio: 'pipe',
  });
  const cluster: PgCluster = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start: () => ctl([version, name, 'start']),
    stop: () => ctl([version, name, 'stop', '-m', 'fast']),
    drop: () => {
      spawnSync('pg_dropcluster', ['--stop', version, name], { stdio: 'ignore' });
    },
  };
  cluster.start();
  return cluster;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
