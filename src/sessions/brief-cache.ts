import type { SessionBrief, SessionRepository } from '../persistence/session-repository.js';

export interface BriefCacheOptions {
  /** How old a read may be before it is read again, for writes made outside this process. Default 1 s. */
  ttlMs?: number;
  /** Owners whose rows are kept; the oldest read goes first. Default 1,000. */
  maxScopes?: number;
  now?: () => number;
}

/** Same ids, names and desired states in the same order. */
function sameBriefs(a: readonly SessionBrief[], b: readonly SessionBrief[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as SessionBrief;
    const y = b[i] as SessionBrief;
    if (x.id !== y.id || x.deviceName !== y.deviceName || x.desiredState !== y.desiredState) return false;
  }
  return true;
}

/**
 * The status summary's rows (`listBrief`) per owner, read again after every write made through
 * `tracked` and at most `ttlMs` after the last read (rows written by another process, such as the
 * backup CLI). A re-read that finds the same rows returns the previous array, so a caller can tell
 * "unchanged" by identity.
 */
export function createBriefCache(repository: SessionRepository, options: BriefCacheOptions = {}) {
  const ttlMs = options.ttlMs ?? 1_000;
  const maxScopes = options.maxScopes ?? 1_000;
  const now = options.now ?? Date.now;
  const entries = new Map<string, { rows: SessionBrief[]; readAt: number; generation: number }>();
  let generation = 0;

  const changed = () => {
    generation++;
  };

  return {
    /** Every row of one owner, or of everyone when `usuarioId` is undefined. */
    async read(usuarioId?: number): Promise<SessionBrief[]> {
      const scope = usuarioId === undefined ? '*' : String(usuarioId);
      const hit = entries.get(scope);
      const at = now();
      if (hit && hit.generation === generation && at - hit.readAt < ttlMs) return hit.rows;
      // Taken before the read: a write that lands while it runs leaves this entry stale.
      const readGeneration = generation;
      const fresh = await repository.listBrief(usuarioId === undefined ? {} : { usuarioId });
      const rows = hit && sameBriefs(hit.rows, fresh) ? hit.rows : fresh;
      entries.delete(scope);
      entries.set(scope, { rows, readAt: at, generation: readGeneration });
      if (entries.size > maxScopes) entries.delete(entries.keys().next().value as string);
      return rows;
    },
    /** Forget every read: the next one goes to the database. */
    changed,
    /** The repository, with every write to a session row marking the cache stale once it is done. */
    tracked(): SessionRepository {
      const after =
        <A extends unknown[], R>(write: (...args: A) => Promise<R>) =>
        (...args: A): Promise<R> =>
          write(...args).finally(changed);
      return {
        ...repository,
        create: after(repository.create),
        update: after(repository.update),
        delete: after(repository.delete),
        setDesiredState: after(repository.setDesiredState),
      };
    },
  };
}

export type BriefCache = ReturnType<typeof createBriefCache>;
