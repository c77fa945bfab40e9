import { IsolationLevel } from '@mikro-orm/core';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { type AuthenticationCreds, BufferJSON } from '@whiskeysockets/baileys';
import { maskUrlPassword } from '../logger.js';
import { WhatsappAuthCreds } from '../persistence/entities/whatsapp-auth-creds.entity.js';
import { WhatsappAuthKey } from '../persistence/entities/whatsapp-auth-key.entity.js';
import { WhatsappSession } from '../persistence/entities/whatsapp-session.entity.js';
import { CREDS_TYPE } from '../persistence/pg-auth-store.js';
import { type Keyring, rowAad, sealedToText } from '../persistence/secret-box.js';
import { createSessionRepository, PROXY_URL_TYPE } from '../persistence/session-repository.js';
import { encodeAuthValue } from '../whatsapp/auth-store.js';
import { BackupError, type BackupFile, openBackup, parseBackupText, sealBackup } from './backup-file.js';
import { decodeSessionPayload, encodeSessionPayload, type KeyRows } from './session-payload.js';

/** What the API adds to an import's answer: both copies of one account cannot be online at once. */
export const DUPLICATE_IMPORT_WARNING =
  'This backup may also be restored elsewhere (or imported more than once): if two copies run at ' +
  'the same time, WhatsApp disconnects one of them with code 440 (connection replaced).';

/** Rows per INSERT: far below PostgreSQL's 65535 bind parameters at 4 per row. */
const INSERT_CHUNK = 2000;

export interface SessionAuth {
  /** Undefined when the session never saved creds. */
  creds: AuthenticationCreds | undefined;
  /** Every `whatsapp_auth_key` row of the session, decrypted, values through `BufferJSON.reviver`. */
  keys: KeyRows;
}

/**
 * Reads a session's whole auth state, decrypted, in one repeatable-read transaction so creds and
 * keys are a consistent snapshot even while the session writes.
 * @throws DecryptionError when a row cannot be decrypted with the keyring.
 */
export async function readSessionAuth(
  orm: MikroORM,
  keyring: Keyring,
  sessionId: number,
): Promise<SessionAuth> {
  return orm.em.fork().transactional(
    async (em) => {
      const credsRow = await em
        .createQueryBuilder(WhatsappAuthCreds)
        .select(['value', 'encKeyId'])
        .where({ session: sessionId })
        .execute('get');
      const keyRows: { type: string; keyId: string; value: Buffer; encKeyId: string }[] = await em
        .createQueryBuilder(WhatsappAuthKey)
        .select(['type', 'keyId', 'value', 'encKeyId'])
        .where({ session: sessionId })
        .orderBy({ type: 'asc', keyId: 'asc' })
        .execute('all');

      const open = (value: Buffer, encKeyId: string, type: string, keyId: string, what: string) =>
        JSON.parse(
          keyring
            .open({ keyId: encKeyId, data: value }, rowAad(sessionId, type, keyId), what)
            .toString('utf8'),
          BufferJSON.reviver,
        );
      const creds = credsRow
        ? (open(
            credsRow.value as Buffer,
            credsRow.encKeyId,
            CREDS_TYPE,
            '',
            `whatsapp_auth_creds (session ${sessionId})`,
          ) as AuthenticationCreds)
        : undefined;
      const keys: KeyRows = {};
      for (const row of keyRows) {
        keys[row.type] ??= {};
        keys[row.type][row.keyId] = open(
          row.value,
          row.encKeyId,
          row.type,
          row.keyId,
          `whatsapp_auth_key (session ${sessionId}, ${row.type} ${row.keyId})`,
        );
      }
      return { creds, keys };
    },
    { isolationLevel: IsolationLevel.REPEATABLE_READ, readOnly: true },
  );
}

export interface BackupServiceOptions {
  orm: MikroORM;
  keyring: Keyring;
}

export interface ExportOptions {
  /** At least 12 characters; unset: server-key mode (only a server holding this key can import). */
  passphrase?: string;
  /** Only this owner's session (a user); unset: any session (admin, CLI). */
  usuarioId?: number;
  /** Default now. */
  now?: Date;
}

export interface ImportOptions {
  /** Required for a passphrase-protected file; ignored for a server-key file. */
  passphrase?: string;
  /** Owner of the new session: the caller, or whom an admin names. Never taken from the file. */
  usuarioId: number;
}

export interface BackupService {
  /**
   * Builds the backup file of one session.
   * @throws BackupError `session_not_found` (404), `not_paired` (409), `weak_passphrase` (400).
   */
  exportSession(sessionId: number, options?: ExportOptions): Promise<BackupFile>;
  /**
   * Restores a backup (the parsed JSON, or its text) as a new session of `usuarioId`: `idle`,
   * desired state `stopped`, creds, every signal key and the proxy re-encrypted with this server's
   * keyring, all in one transaction. Importing a file twice gives two sessions.
   * @throws BackupError (422) for every problem with the file or its key; nothing is written then.
   */
  importSession(backup: unknown, options: ImportOptions): Promise<{ sessionId: number }>;
}

/** `backup_session_<id>.json`, the file name of an export. */
export const backupFileName = (sessionId: number) => `backup_session_${sessionId}.json`;

/** Serialises a backup file: 2-space JSON and a newline (the layout does not enter the AAD). */
export const backupToText = (file: BackupFile) => `${JSON.stringify(file, null, 2)}\n`;

export function createBackupService({ orm, keyring }: BackupServiceOptions): BackupService {
  const sessions = createSessionRepository({ orm, keyring });

  return {
    async exportSession(sessionId, { passphrase, usuarioId, now = new Date() } = {}) {
      const session = await sessions.get(sessionId, { usuarioId });
      if (!session) throw new BackupError('session_not_found', `session ${sessionId} not found`);
      const { creds, keys } = await readSessionAuth(orm, keyring, sessionId);
      if (!creds?.me?.id) {
        throw new BackupError(
          'not_paired',
          `session ${sessionId} has no paired credentials yet: scan its QR code before exporting it`,
        );
      }
      const plaintext = encodeSessionPayload({ creds, keys, proxyUrl: session.proxyUrl });
      try {
        return await sealBackup(
          {
            session_id: session.id,
            usuario_id: session.usuarioId,
            device_name: session.deviceName,
            phone_number: session.phoneNumber,
            auto_reconnect: session.autoReconnect,
            proxy_enabled: session.proxyEnabled,
            proxy_url: session.proxyUrl === null ? null : maskUrlPassword(session.proxyUrl),
            created_at: session.createdAt.toISOString(),
            connected_at: session.connectedAt?.toISOString() ?? null,
            export_timestamp: now.toISOString(),
          },
          plaintext,
          { passphrase, keyring },
        );
      } finally {
        plaintext.fill(0);
      }
    },

    async importSession(backup, { passphrase, usuarioId }) {
      if (!Number.isSafeInteger(usuarioId) || usuarioId <= 0)
        throw new Error('usuarioId must be a positive integer');
      const input = typeof backup === 'string' || Buffer.isBuffer(backup) ? parseBackupText(backup) : backup;
      const { file, plaintext } = await openBackup(input, { passphrase, keyring });
      const payload = decodeSessionPayload(plaintext);
      plaintext.fill(0);

      const sessionId = await orm.em.fork().transactional(async (em) => {
        const row = em.create(WhatsappSession, {
          usuarioId,
          deviceName: file.device_name,
          phoneNumber: file.phone_number,
          autoReconnect: file.auto_reconnect,
          proxyEnabled: file.proxy_enabled,
          status: 'idle',
          desiredState: 'stopped',
        });
        await em.flush();
        const id = row.id;
        if (payload.proxyUrl) {
          row.proxyUrl = sealedToText(keyring.seal(payload.proxyUrl, rowAad(id, PROXY_URL_TYPE)));
          await em.flush();
        }
        await insertAuth(em, keyring, id, payload.creds, payload.keys);
        return id;
      });
      return { sessionId };
    },
  };
}

async function insertAuth(
  em: EntityManager,
  keyring: Keyring,
  sessionId: number,
  creds: AuthenticationCreds,
  keys: KeyRows,
): Promise<void> {
  const now = new Date();
  const sealedCreds = keyring.seal(encodeAuthValue(creds), rowAad(sessionId, CREDS_TYPE));
  await em
    .createQueryBuilder(WhatsappAuthCreds)
    .insert({
      session: sessionId,
      value: sealedCreds.data,
      encKeyId: sealedCreds.keyId,
      createdAt: now,
      updatedAt: now,
    })
    .execute('run');

  const rows: { session: number; type: string; keyId: string; value: Buffer; encKeyId: string }[] = [];
  for (const [type, byId] of Object.entries(keys)) {
    for (const [keyId, value] of Object.entries(byId)) {
      const sealed = keyring.seal(encodeAuthValue(value), rowAad(sessionId, type, keyId));
      rows.push({ session: sessionId, type, keyId, value: sealed.data, encKeyId: sealed.keyId });
    }
  }
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    await em
      .createQueryBuilder(WhatsappAuthKey)
      .insert(rows.slice(i, i + INSERT_CHUNK))
      .execute('run');
  }
}
