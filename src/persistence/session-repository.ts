import {
  type EntityData,
  type FilterQuery,
  ForeignKeyConstraintViolationException,
  type MikroORM,
  QueryOrder,
} from '@mikro-orm/postgresql';
import type { SessionStatus } from '../../machines/session-view.js';
import {
  type DesiredState,
  WhatsappSession,
  type WhatsappSessionEntity,
} from './entities/whatsapp-session.entity.js';
import {
  WhatsappSessionEvent,
  type WhatsappSessionEventEntity,
} from './entities/whatsapp-session-event.entity.js';
import { type Keyring, rowAad, sealedFromText, sealedToText } from './secret-box.js';

export type { DesiredState } from './entities/whatsapp-session.entity.js';

/** AAD type of `whatsapp_session.proxy_url`. */
export const PROXY_URL_TYPE = 'proxy_url';

export interface LastErrorRecord {
  code: number;
  reason: string;
  message: string;
  at: Date;
}

/** A `whatsapp_session` row, `proxyUrl` decrypted. */
export interface SessionRecord {
  id: number;
  usuarioId: number;
  deviceName: string;
  phoneNumber: string | null;
  status: SessionStatus;
  desiredState: DesiredState;
  autoReconnect: boolean;
  reconnectAttempts: number;
  lastReconnectAt: Date | null;
  proxyEnabled: boolean;
  proxyUrl: string | null;
  lastError: LastErrorRecord | null;
  createdAt: Date;
  updatedAt: Date;
  connectedAt: Date | null;
  disconnectedAt: Date | null;
}

export interface NewSession {
  usuarioId: number;
  deviceName: string;
  phoneNumber?: string | null;
  autoReconnect?: boolean;
  proxyEnabled?: boolean;
  proxyUrl?: string | null;
  /** Default `stopped`. */
  desiredState?: DesiredState;
}

/** Fields a user may change; an absent field is left as it is. */
export interface SessionPatch {
  deviceName?: string;
  phoneNumber?: string | null;
  autoReconnect?: boolean;
  proxyEnabled?: boolean;
  proxyUrl?: string | null;
}

export interface ListSessionsOptions {
  /** Only this owner's sessions; unset lists every owner's (admin). */
  usuarioId?: number;
  status?: SessionStatus | SessionStatus[];
  /** 1-based. Default 1. */
  page?: number;
  /** Default 50, at most 500. */
  pageSize?: number;
}

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  pageSize: number;
}

/**
 * One session step: appended to `whatsapp_session_event` and applied to the `whatsapp_session` row.
 * For the optional dates, `undefined` leaves the column as it is and `null` clears it.
 */
export interface TransitionRecord {
  sessionId: number;
  at: Date;
  from: string;
  to: string;
  event: string;
  attempt: number;
  delayMs: number | null;
  reason: string | null;
  code: number | null;
  taskId: string | null;
  /** The session's status after the step. */
  status: SessionStatus;
  lastReconnectAt?: Date | null;
  connectedAt?: Date | null;
  disconnectedAt?: Date | null;
  /** The session's last error after the step; `null` clears it. */
  lastError: LastErrorRecord | null;
}

export interface SessionBrief {
  id: number;
  deviceName: string;
  desiredState: DesiredState;
}

/** A `whatsapp_session_event` row. */
export interface SessionEventRecord {
  /** bigserial, as a string. */
  id: string;
  sessionId: number;
  at: Date;
  from: string;
  to: string;
  event: string;
  attempt: number;
  delayMs: number | null;
  reason: string | null;
  code: number | null;
  taskId: string | null;
}

export interface ListEventsOptions {
  page?: number;
  pageSize?: number;
  taskId?: string;
}

export interface SessionRepository {
  create(input: NewSession): Promise<SessionRecord>;
  /** With `usuarioId`, another owner's session is reported as absent. */
  get(id: number, options?: { usuarioId?: number }): Promise<SessionRecord | null>;
  list(options?: ListSessionsOptions): Promise<Page<SessionRecord>>;
  /** Null when there is no such session (of that owner, when given). */
  update(id: number, patch: SessionPatch, options?: { usuarioId?: number }): Promise<SessionRecord | null>;
  /** Removes the session with its credentials, keys and events (ON DELETE CASCADE). */
  delete(id: number, options?: { usuarioId?: number }): Promise<boolean>;
  setDesiredState(id: number, desiredState: DesiredState): Promise<boolean>;
  /** Sessions to start on boot: desired state `running`, oldest first. */
  listToRestore(): Promise<SessionRecord[]>;
  /**
   * The few columns a status summary needs, for every session (of that owner), oldest first:
   * no entity hydration and no decryption, so it stays cheap with thousands of rows.
   */
  listBrief(options?: { usuarioId?: number }): Promise<SessionBrief[]>;
  /**
   * Appends the event and updates the session row in one transaction.
   * @returns the new event's id and the session's owner (for the live stream).
   * @throws a foreign-key violation when the session no longer exists.
   */
  recordTransition(t: TransitionRecord): Promise<WrittenTransition>;
  /** Newest first. */
  listEvents(sessionId: number, options?: ListEventsOptions): Promise<Page<SessionEventRecord>>;
  /** Events with an id above `afterId`, oldest first (SSE replay); `usuarioId` limits them to one owner. */
  listEventsAfter(
    afterId: string,
    options?: { usuarioId?: number; limit?: number },
  ): Promise<SessionEventRecord[]>;
}

/** What `recordTransition` wrote. */
export interface WrittenTransition {
  /** bigserial, as a string. */
  eventId: string;
  usuarioId: number;
}

export interface SessionRepositoryOptions {
  orm: MikroORM;
  keyring: Keyring;
}

const MAX_PAGE_SIZE = 500;

/** Domain access to `whatsapp_session` and its event log. Every call works in its own `em.fork()`. */
export function createSessionRepository({ orm, keyring }: SessionRepositoryOptions): SessionRepository {
  const fork = () => orm.em.fork();

  const sealProxy = (sessionId: number, url: string | null | undefined) =>
    url ? sealedToText(keyring.seal(url, rowAad(sessionId, PROXY_URL_TYPE))) : null;

  const openProxy = (sessionId: number, stored: string | null | undefined) => {
    if (!stored) return null;
    const what = `whatsapp_session.proxy_url (session ${sessionId})`;
    return keyring
      .open(sealedFromText(stored, what), rowAad(sessionId, PROXY_URL_TYPE), what)
      .toString('utf8');
  };

  const toRecord = (row: WhatsappSessionEntity): SessionRecord => ({
    id: row.id,
    usuarioId: row.usuarioId,
    deviceName: row.deviceName,
    phoneNumber: row.phoneNumber ?? null,
    status: row.status,
    desiredState: row.desiredState,
    autoReconnect: row.autoReconnect,
    reconnectAttempts: row.reconnectAttempts,
    lastReconnectAt: row.lastReconnectAt ?? null,
    proxyEnabled: row.proxyEnabled,
    proxyUrl: openProxy(row.id, row.proxyUrl),
    lastError:
      row.lastErrorCode != null && row.lastErrorAt
        ? {
            code: row.lastErrorCode,
            reason: row.lastErrorReason ?? '',
            message: row.lastErrorMessage ?? '',
            at: row.lastErrorAt,
          }
        : null,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    connectedAt: row.connectedAt ?? null,
    disconnectedAt: row.disconnectedAt ?? null,
  });

  const toEventRecord = (row: WhatsappSessionEventEntity): SessionEventRecord => ({
    id: row.id,
    sessionId: row.session,
    at: row.at,
    from: row.from,
    to: row.to,
    event: row.event,
    attempt: row.attempt,
    delayMs: row.delayMs ?? null,
    reason: row.reason ?? null,
    code: row.code ?? null,
    taskId: row.taskId ?? null,
  });

  const owned = (id: number, usuarioId?: number): FilterQuery<WhatsappSessionEntity> =>
    usuarioId === undefined ? { id } : { id, usuarioId };

  const paging = (page = 1, pageSize = 50) => {
    const p = Math.max(1, Math.floor(page));
    const size = Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(pageSize)));
    return { page: p, pageSize: size, offset: (p - 1) * size };
  };

  return {
    async create(input) {
      return fork().transactional(async (em) => {
        const row = em.create(WhatsappSession, {
          usuarioId: input.usuarioId,
          deviceName: input.deviceName,
          phoneNumber: input.phoneNumber ?? null,
          autoReconnect: input.autoReconnect ?? true,
          proxyEnabled: input.proxyEnabled ?? false,
          desiredState: input.desiredState ?? 'stopped',
        });
        await em.flush();
        // The id is part of the proxy URL's associated data, so it is sealed once the row has one.
        if (input.proxyUrl) {
          row.proxyUrl = sealProxy(row.id, input.proxyUrl);
          await em.flush();
        }
        return toRecord(row);
      });
    },

    async get(id, { usuarioId } = {}) {
      const row = await fork().findOne(WhatsappSession, owned(id, usuarioId));
      return row ? toRecord(row) : null;
    },

    async list({ usuarioId, status, page, pageSize } = {}) {
      const paged = paging(page, pageSize);
      const where: FilterQuery<WhatsappSessionEntity> = {};
      if (usuarioId !== undefined) where.usuarioId = usuarioId;
      if (status !== undefined) where.status = Array.isArray(status) ? { $in: status } : status;
      const [rows, total] = await fork().findAndCount(WhatsappSession, where, {
        orderBy: { id: QueryOrder.ASC },
        limit: paged.pageSize,
        offset: paged.offset,
      });
      return { items: rows.map(toRecord), total, page: paged.page, pageSize: paged.pageSize };
    },

    async update(id, patch, { usuarioId } = {}) {
      return fork().transactional(async (em) => {
        const row = await em.findOne(WhatsappSession, owned(id, usuarioId));
        if (!row) return null;
        const changes: EntityData<WhatsappSessionEntity> = {};
        if (patch.deviceName !== undefined) changes.deviceName = patch.deviceName;
        if (patch.phoneNumber !== undefined) changes.phoneNumber = patch.phoneNumber;
        if (patch.autoReconnect !== undefined) changes.autoReconnect = patch.autoReconnect;
        if (patch.proxyEnabled !== undefined) changes.proxyEnabled = patch.proxyEnabled;
        if (patch.proxyUrl !== undefined) changes.proxyUrl = sealProxy(id, patch.proxyUrl);
        em.assign(row, changes);
        await em.flush();
        return toRecord(row);
      });
    },

    async delete(id, { usuarioId } = {}) {
      return (await fork().nativeDelete(WhatsappSession, owned(id, usuarioId))) > 0;
    },

    async setDesiredState(id, desiredState) {
      return (
        (await fork().nativeUpdate(WhatsappSession, { id }, { desiredState, updatedAt: new Date() })) > 0
      );
    },

    async listBrief({ usuarioId } = {}) {
      const where = usuarioId === undefined ? '' : 'where usuario_id = ?';
      const rows = await fork()
        .getConnection()
        .execute<{ id: number; device_name: string; desired_state: DesiredState }[]>(
          `select id, device_name, desired_state from whatsapp_session ${where} order by id`,
          usuarioId === undefined ? [] : [usuarioId],
        );
      return rows.map((r) => ({
        id: Number(r.id),
        deviceName: r.device_name,
        desiredState: r.desired_state,
      }));
    },

    async listToRestore() {
      const rows = await fork().find(
        WhatsappSession,
        { desiredState: 'running' },
        { orderBy: { id: QueryOrder.ASC } },
      );
      return rows.map(toRecord);
    },

    async recordTransition(t) {
      // One statement, so one round trip and atomic without BEGIN/COMMIT: a reconnect writes four
      // of these, and through the ORM each was a transaction of two queries built by its query
      // builder with the values inlined. Bindings go to PostgreSQL as parameters.
      const sets: [string, unknown][] = [
        ['status', t.status],
        ['reconnect_attempts', t.attempt],
        ['last_error_code', t.lastError?.code ?? null],
        ['last_error_reason', t.lastError?.reason ?? null],
        ['last_error_message', t.lastError?.message ?? null],
        ['last_error_at', t.lastError?.at ?? null],
        ['updated_at', new Date()],
      ];
      if (t.lastReconnectAt !== undefined) sets.push(['last_reconnect_at', t.lastReconnectAt]);
      if (t.connectedAt !== undefined) sets.push(['connected_at', t.connectedAt]);
      if (t.disconnectedAt !== undefined) sets.push(['disconnected_at', t.disconnectedAt]);
      const sql = `with event as (
          insert into whatsapp_session_event
            (session_id, at, "from", "to", event, attempt, delay_ms, reason, code, task_id)
          values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning id
        )
        update whatsapp_session set ${sets.map(([column]) => `${column} = ?`).join(', ')}
        where id = ? returning usuario_id, (select id from event) as event_id`;
      const bindings = [
        t.sessionId,
        t.at,
        t.from,
        t.to,
        t.event,
        t.attempt,
        t.delayMs,
        t.reason,
        t.code,
        t.taskId,
        ...sets.map(([, value]) => value),
        t.sessionId,
      ];
      try {
        const result = await orm.em
          .getKnex()
          .raw<{ rows: { usuario_id: number; event_id: string }[] }>(sql, bindings as never);
        const row = result.rows[0];
        // No row updated: the session went away between the insert's check and the update.
        if (!row) {
          const gone = Object.assign(new Error(`session ${t.sessionId} no longer exists`), { code: '23503' });
          throw new ForeignKeyConstraintViolationException(gone);
        }
        return { eventId: String(row.event_id), usuarioId: Number(row.usuario_id) };
      } catch (err) {
        // The same exception classes the ORM would raise (the transition writer tells a gone
        // session, a bad value and a lost connection apart by them).
        throw err instanceof Error && 'code' in err ? orm.em.getDriver().convertException(err) : err;
      }
    },

    async listEvents(sessionId, { page, pageSize, taskId } = {}) {
      const paged = paging(page, pageSize);
      const where: FilterQuery<WhatsappSessionEventEntity> = { session: sessionId };
      if (taskId !== undefined) where.taskId = taskId;
      const [rows, total] = await fork().findAndCount(WhatsappSessionEvent, where, {
        orderBy: [{ at: QueryOrder.DESC }, { id: QueryOrder.DESC }],
        limit: paged.pageSize,
        offset: paged.offset,
      });
      return { items: rows.map(toEventRecord), total, page: paged.page, pageSize: paged.pageSize };
    },

    async listEventsAfter(afterId, { usuarioId, limit = 500 } = {}) {
      const em = fork();
      const where: FilterQuery<WhatsappSessionEventEntity> = { id: { $gt: afterId } };
      if (usuarioId !== undefined) {
        const own = await em.find(WhatsappSession, { usuarioId }, { fields: ['id'] });
        if (own.length === 0) return [];
        where.session = { $in: own.map((s) => s.id) };
      }
      const rows = await em.find(WhatsappSessionEvent, where, {
        orderBy: { id: QueryOrder.ASC },
        limit: Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(limit))),
      });
      return rows.map(toEventRecord);
    },
  };
}
