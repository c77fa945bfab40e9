import type { Daemon } from '../daemon.js';

/** How long `/readyz` waits for the database: a stalled connection must not hang the probe. */
export const READINESS_DB_TIMEOUT_MS = 2_000;

/** `GET /readyz`: the supervisor actor runs and the database answers `select 1` in time. */
export async function daemonReady(
  daemon: Pick<Daemon, 'db' | 'supervisor'>,
  timeoutMs = READINESS_DB_TIMEOUT_MS,
): Promise<boolean> {
  if (daemon.supervisor.actor.getSnapshot().status !== 'active') return false;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const probe = daemon.db.orm.em
    .getConnection()
    .execute('select 1')
    .then(() => true);
  // A probe that loses the race may still reject later: nobody waits for it then.
  probe.catch(() => undefined);
  try {
    return await Promise.race([probe, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
