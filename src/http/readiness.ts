import type { Daemon } from '../daemon.js';

/** `GET /readyz`: the supervisor actor runs and the database answers `select 1`. */
export async function daemonReady(daemon: Pick<Daemon, 'db' | 'supervisor'>): Promise<boolean> {
  if (daemon.supervisor.actor.getSnapshot().status !== 'active') return false;
  await daemon.db.orm.em.getConnection().execute('select 1');
  return true;
}
