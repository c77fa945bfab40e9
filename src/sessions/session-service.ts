import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { SessionStatus, SessionView } from '../../machines/session-view.js';
import type {
  Page,
  SessionBrief,
  SessionEventRecord,
  SessionPatch,
  SessionRecord,
  SessionRepository,
} from '../persistence/session-repository.js';
import type { Supervisor } from '../supervisor.js';
import type { AuthStateStore } from '../whatsapp/auth-store.js';
import type { SocketRegistry } from '../whatsapp/socket-registry.js';
import { type BriefCacheOptions, createBriefCache } from './brief-cache.js';
import { notFound, ServiceError } from './errors.js';
import { proxyUrlProblem } from './proxy-url.js';

/** Who is asking: a user sees only its own sessions, an admin every session. */
export interface Caller {
  usuarioId: number;
  admin: boolean;
}

/** A session as stored, with its live actor's view when it has one. */
export interface SessionState {
  record: SessionRecord;
  view: SessionView | undefined;
  /** Used when there is no actor. */
  maxAttempts: number;
}

export interface NewSessionInput {
  deviceName: string;
  phoneNumber?: string | null;
  autoReconnect?: boolean;
  proxyEnabled?: boolean;
  proxyUrl?: string | null;
  start?: boolean;
}

export interface SessionServiceDeps {
  sessions: SessionRepository;
  supervisor: Supervisor;
  authStore: AuthStateStore;
  sockets: SocketRegistry;
  logger: Logger;
  /** The reconnect policy's attempt limit, shown for sessions without an actor. */
  maxAttempts: number;
  /** How long a live socket may take to answer logout or a pairing-code request. Default 10 s. */
  socketTimeoutMs?: number;
  /** The status summary's row cache (default: re-read after 1 s, or at once after a write made here). */
  briefCache?: BriefCacheOptions;
}

export type SessionService = ReturnType<typeof createSessionService>;

/**
 * What the API does to sessions: rows in the repository, commands to the session actors, and the
 * two socket operations (logout, pairing code). Every method takes the caller and treats another
 * owner's session as absent.
 */
export function createSessionService(deps: SessionServiceDeps) {
  const { supervisor, authStore, sockets, logger } = deps;
  const briefs = createBriefCache(deps.sessions, deps.briefCache);
  // Every row write below goes through this, so the summary's cached rows never outlive one.
  const sessions = briefs.tracked();
  const socketTimeoutMs = deps.socketTimeoutMs ?? 10_000;
  const log = logger.child({ component: 'session-service' });

  const owner = (caller: Caller) => (caller.admin ? {} : { usuarioId: caller.usuarioId });
  const state = (record: SessionRecord): SessionState => ({
    record,
    view: supervisor.view(String(record.id)),
    maxAttempts: deps.maxAttempts,
  });

  const load = async (caller: Caller, id: number): Promise<SessionRecord> => {
    const record = await sessions.get(id, owner(caller));
    if (!record) throw notFound();
    return record;
  };

  const ensureActor = (record: SessionRecord) => {
    const sid = String(record.id);
    if (!supervisor.has(sid)) supervisor.add(sid, { autoReconnect: record.autoReconnect });
    return sid;
  };

  const effectiveProxy = (r: { proxyEnabled: boolean; proxyUrl: string | null }) =>
    r.proxyEnabled ? r.proxyUrl : null;

  const checkProxy = (proxyEnabled: boolean, proxyUrl: string | null | undefined) => {
    if (proxyUrl) {
      const problem = proxyUrlProblem(proxyUrl);
      if (problem) throw invalid('proxy_url', problem);
    }
    if (proxyEnabled && !proxyUrl) throw invalid('proxy_url', 'is required when proxy_enabled is true');
  };

  const withTimeout = <T>(work: Promise<T>, what: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new ServiceError('unavailable', 'whatsapp_unavailable', `${what} timed out`)),
        socketTimeoutMs,
      );
      work.then(resolve, reject).finally(() => clearTimeout(timer));
    });

  return {
    async create(caller: Caller, input: NewSessionInput): Promise<SessionState> {
      checkProxy(input.proxyEnabled ?? false, input.proxyUrl);
      const record = await sessions.create({
        usuarioId: caller.usuarioId,
        deviceName: input.deviceName,
        phoneNumber: input.phoneNumber ?? null,
        autoReconnect: input.autoReconnect ?? true,
        proxyEnabled: input.proxyEnabled ?? false,
        proxyUrl: input.proxyUrl ?? null,
        desiredState: input.start ? 'running' : 'stopped',
      });
      supervisor.add(String(record.id), { autoReconnect: record.autoReconnect, start: input.start ?? false });
      return state(record);
    },

    async list(
      caller: Caller,
      options: { page?: number; pageSize?: number; status?: SessionStatus },
    ): Promise<Page<SessionState>> {
      const page = await sessions.list({ ...owner(caller), ...options });
      return { ...page, items: page.items.map(state) };
    },

    async get(caller: Caller, id: number): Promise<SessionState> {
      return state(await load(caller, id));
    },

    async update(caller: Caller, id: number, patch: SessionPatch): Promise<SessionState> {
      const before = await load(caller, id);
      const proxyEnabled = patch.proxyEnabled ?? before.proxyEnabled;
      const proxyUrl = patch.proxyUrl !== undefined ? patch.proxyUrl : before.proxyUrl;
      checkProxy(proxyEnabled, proxyUrl);
      const after = await sessions.update(id, patch, owner(caller));
      if (!after) throw notFound();

      const sid = String(id);
      if (supervisor.has(sid)) {
        // A new route reconnects a live session (the machine re-enters `online`); otherwise it only configures.
        const command: { type: 'session.configure'; autoReconnect?: boolean; proxyUrl?: string | null } = {
          type: 'session.configure',
        };
        if (after.autoReconnect !== before.autoReconnect) command.autoReconnect = after.autoReconnect;
        if (effectiveProxy(after) !== effectiveProxy(before)) command.proxyUrl = effectiveProxy(after);
        if (Object.keys(command).length > 1) supervisor.command(sid, command);
      }
      return state(after);
    },

    /** Stops the actor, then removes the row with its credentials, keys and events. */
    async remove(caller: Caller, id: number): Promise<void> {
      await load(caller, id);
      const sid = String(id);
      if (supervisor.has(sid)) supervisor.remove(sid);
      await authStore.clear(sid);
      if (!(await sessions.delete(id, owner(caller)))) throw notFound();
    },

    async start(caller: Caller, id: number): Promise<SessionState> {
      const record = await load(caller, id);
      await sessions.setDesiredState(id, 'running');
      supervisor.start(ensureActor(record));
      return state({ ...record, desiredState: 'running' });
    },

    async stop(caller: Caller, id: number): Promise<SessionState> {
      const record = await load(caller, id);
      await sessions.setDesiredState(id, 'stopped');
      const sid = String(id);
      if (supervisor.has(sid)) supervisor.stop(sid);
      return state({ ...record, desiredState: 'stopped' });
    },

    /** Starts a reconnect episode whose transitions carry the returned task id. */
    async reconnect(caller: Caller, id: number): Promise<{ taskId: string }> {
      const record = await load(caller, id);
      await sessions.setDesiredState(id, 'running');
      const taskId = randomUUID();
      supervisor.reconnect(ensureActor(record), taskId);
      return { taskId };
    },

    /** Unlinks the device when a socket is open, then stops the session and wipes its credentials. */
    async logout(caller: Caller, id: number): Promise<SessionState> {
      const record = await load(caller, id);
      const sid = String(id);
      const socket = sockets.get(sid);
      if (socket && supervisor.view(sid)?.status === 'connected') {
        try {
          await withTimeout(socket.logout(), 'logout');
        } catch (err) {
          // The credentials are wiped below either way; WhatsApp drops an unused device by itself.
          log.warn({ session_id: id, err }, 'logout on the socket failed; wiping credentials anyway');
        }
      }
      await sessions.setDesiredState(id, 'stopped');
      if (supervisor.has(sid)) supervisor.stop(sid);
      await authStore.clear(sid);
      log.info({ session_id: id }, 'logged out; credentials wiped');
      return state({ ...record, desiredState: 'stopped' });
    },

    /** The QR the session shows now, or a 409 when it is not waiting for a scan. */
    async qr(caller: Caller, id: number): Promise<{ qr: string; expiresAt: Date | null }> {
      await load(caller, id);
      const ref = supervisor.ref(String(id));
      const context = ref?.getSnapshot().context;
      if (!context?.qr || supervisor.view(String(id))?.status !== 'qr') {
        throw new ServiceError('conflict', 'no_qr', 'the session is not waiting for a QR scan');
      }
      return { qr: context.qr, expiresAt: context.qrExpiresAt ? new Date(context.qrExpiresAt) : null };
    },

    async pairingCode(caller: Caller, id: number, phoneNumber: string): Promise<{ code: string }> {
      await load(caller, id);
      const sid = String(id);
      const socket = sockets.get(sid);
      if (supervisor.view(sid)?.status !== 'qr' || !socket) {
        throw new ServiceError('conflict', 'not_pairing', 'the session is not waiting to be linked');
      }
      try {
        return { code: await withTimeout(socket.requestPairingCode(phoneNumber), 'pairing code request') };
      } catch (err) {
        if (err instanceof ServiceError) throw err;
        log.warn({ session_id: id, err }, 'pairing code request failed');
        throw new ServiceError('unavailable', 'whatsapp_unavailable', 'WhatsApp did not accept the request');
      }
    },

    /**
     * Every own session (every session for an admin), for the status summary: rows from the brief
     * cache (the same array, and the same row objects, while they are unchanged), the version of
     * the supervisor's view table as read here, and `viewOf` to read a session's live view.
     */
    async summary(caller: Caller): Promise<{
      rows: readonly SessionBrief[];
      viewsVersion: number;
      viewOf(sessionId: number): SessionView | undefined;
    }> {
      const rows = await briefs.read(caller.admin ? undefined : caller.usuarioId);
      return {
        rows,
        viewsVersion: supervisor.viewsVersion(),
        viewOf: (sessionId) => supervisor.view(String(sessionId)),
      };
    },

    /** For writes to session rows made outside this service (a backup import): show them at once. */
    rowsChanged: briefs.changed,

    async events(
      caller: Caller,
      id: number,
      options: { page?: number; pageSize?: number; taskId?: string },
    ): Promise<Page<SessionEventRecord>> {
      await load(caller, id);
      return sessions.listEvents(id, options);
    },
  };
}

function invalid(field: string, message: string): ServiceError {
  return new ServiceError('invalid', 'validation_error', `${field} ${message}`, [
    { field: `body.${field}`, message },
  ]);
}
