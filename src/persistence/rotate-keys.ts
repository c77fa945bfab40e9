import type { EntityManager, MikroORM, QueryResult } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { CREDS_TYPE } from './pg-auth-store.js';
import { type Keyring, rowAad, sealedFromText, sealedToText } from './secret-box.js';
import { PROXY_URL_TYPE } from './session-repository.js';

export interface RotateKeysOptions {
  orm: MikroORM;
  /** Current key: the target. Previous keys: to read what is not on it yet. */
  keyring: Keyring;
  logger: Logger;
  /** Rows per transaction. Default 500. */
  batchSize?: number;
}

/** Rows re-encrypted, per kind. (Not named `creds`/`keys`: the logger redacts those fields.) */
export interface RotationResult {
  authCreds: number;
  authKeys: number;
  proxyUrls: number;
}

/**
 * Re-encrypts every sealed value (auth creds, auth keys, proxy URLs) that is not on the keyring's
 * current key. Each batch commits on its own, so an interrupted run resumes where it stopped, and
 * rows already on the current key are never touched. A row the daemon rewrote meanwhile is left
 * as the daemon wrote it (the update only applies to the exact value that was read).
 * @throws DecryptionError when a value cannot be read with any configured key; batches already
 * committed stay committed.
 */
export async function rotateEncryptionKeys({
  orm,
  keyring,
  logger,
  batchSize = 500,
}: RotateKeysOptions): Promise<RotationResult> {
  const log = logger.child({ component: 'rotate-keys', keyId: keyring.currentKeyId });
  const current = keyring.currentKeyId;
  const result: RotationResult = { authCreds: 0, authKeys: 0, proxyUrls: 0 };

  // whatsapp_auth_key, walked in primary-key order.
  let cursor: [number, string, string] | null = null;
  for (;;) {
    const em = orm.em.fork();
    const rows: { session_id: number; type: string; key_id: string; value: Buffer; enc_key_id: string }[] =
      await em.execute(
        `select session_id, type, key_id, value, enc_key_id from whatsapp_auth_key
         where enc_key_id <> ? ${cursor ? 'and (session_id, type, key_id) > (?, ?, ?)' : ''}
         order by session_id, type, key_id limit ?`,
        [current, ...(cursor ?? []), batchSize],
      );
    if (rows.length === 0) break;
    const updates = rows.map((row) => {
      const aad = rowAad(row.session_id, row.type, row.key_id);
      const what = `whatsapp_auth_key (session ${row.session_id}, ${row.type} ${row.key_id})`;
      const sealed = keyring.seal(keyring.open({ keyId: row.enc_key_id, data: row.value }, aad, what), aad);
      return [row.session_id, row.type, row.key_id, row.value, row.enc_key_id, sealed.data, sealed.keyId];
    });
    result.authKeys += await em.transactional((tx) =>
      updateFromValues(
        tx,
        'whatsapp_auth_key',
        '(?::int, ?::text, ?::text, ?::bytea, ?::text, ?::bytea, ?::text)',
        'v(session_id, type, key_id, old_value, old_key, new_value, new_key)',
        't.session_id = v.session_id and t.type = v.type and t.key_id = v.key_id',
        updates,
      ),
    );
    const last = rows[rows.length - 1];
    cursor = [last.session_id, last.type, last.key_id];
    log.info({ table: 'whatsapp_auth_key', rotated: result.authKeys }, 'batch re-encrypted');
  }

  let lastSession = 0;
  for (;;) {
    const em = orm.em.fork();
    const rows: { session_id: number; value: Buffer; enc_key_id: string }[] = await em.execute(
      `select session_id, value, enc_key_id from whatsapp_auth_creds
         where enc_key_id <> ? and session_id > ? order by session_id limit ?`,
      [current, lastSession, batchSize],
    );
    if (rows.length === 0) break;
    const updates = rows.map((row) => {
      const aad = rowAad(row.session_id, CREDS_TYPE);
      const what = `whatsapp_auth_creds (session ${row.session_id})`;
      const sealed = keyring.seal(keyring.open({ keyId: row.enc_key_id, data: row.value }, aad, what), aad);
      return [row.session_id, row.value, row.enc_key_id, sealed.data, sealed.keyId];
    });
    result.authCreds += await em.transactional((tx) =>
      updateFromValues(
        tx,
        'whatsapp_auth_creds',
        '(?::int, ?::bytea, ?::text, ?::bytea, ?::text)',
        'v(session_id, old_value, old_key, new_value, new_key)',
        't.session_id = v.session_id',
        updates,
        ', updated_at = now()',
      ),
    );
    lastSession = rows[rows.length - 1].session_id;
    log.info({ table: 'whatsapp_auth_creds', rotated: result.authCreds }, 'batch re-encrypted');
  }

  let lastId = 0;
  for (;;) {
    const em = orm.em.fork();
    const rows: { id: number; proxy_url: string }[] = await em.execute(
      `select id, proxy_url from whatsapp_session
       where proxy_url is not null and proxy_url not like ? and id > ? order by id limit ?`,
      [`${current}:%`, lastId, batchSize],
    );
    if (rows.length === 0) break;
    const updates = rows.map((row) => {
      const aad = rowAad(row.id, PROXY_URL_TYPE);
      const what = `whatsapp_session.proxy_url (session ${row.id})`;
      const plain = keyring.open(sealedFromText(row.proxy_url, what), aad, what);
      return [row.id, row.proxy_url, sealedToText(keyring.seal(plain, aad))];
    });
    result.proxyUrls += await em.transactional(async (tx) => {
      const res = await tx.execute<QueryResult>(
        `update whatsapp_session t set proxy_url = v.new_value
         from (values ${updates.map(() => '(?::int, ?::text, ?::text)').join(', ')}) as v(id, old_value, new_value)
         where t.id = v.id and t.proxy_url = v.old_value`,
        updates.flat(),
        'run',
      );
      return res.affectedRows;
    });
    lastId = rows[rows.length - 1].id;
    log.info({ table: 'whatsapp_session', rotated: result.proxyUrls }, 'batch re-encrypted');
  }

  log.info({ ...result }, 'key rotation finished');
  return result;
}

/** One `UPDATE … FROM (VALUES …)` that only touches rows still holding the value that was read. */
async function updateFromValues(
  em: EntityManager,
  table: string,
  tuple: string,
  alias: string,
  join: string,
  rows: unknown[][],
  extraSet = '',
): Promise<number> {
  const res = await em.execute<QueryResult>(
    `update ${table} t set value = v.new_value, enc_key_id = v.new_key${extraSet}
     from (values ${rows.map(() => tuple).join(', ')}) as ${alias}
     where ${join} and t.enc_key_id = v.old_key and t.value = v.old_value`,
    rows.flat(),
    'run',
  );
  return res.affectedRows;
}
