import type { Knex, MikroORM } from '@mikro-orm/postgresql';
import {
  type AuthenticationCreds,
  initAuthCreds,
  type SignalDataSet,
  type SignalDataTypeMap,
} from '@whiskeysockets/baileys';
import type { Logger } from 'pino';
import { type AuthStateStore, decodeAuthValue, encodeAuthValue } from '../whatsapp/auth-store.js';
import { WhatsappAuthCreds } from './entities/whatsapp-auth-creds.entity.js';
import { WhatsappAuthKey } from './entities/whatsapp-auth-key.entity.js';
import { type Keyring, rowAad } from './secret-box.js';

type KeyType = keyof SignalDataTypeMap;

export interface PgAuthStoreOptions {
  orm: MikroORM;
  keyring: Keyring;
  logger: Logger;
}

/** Rows per INSERT: far below PostgreSQL's 65535 bind parameters at 5 per row. */
const INSERT_CHUNK = 2000;

const KEY_TABLE = 'whatsapp_auth_key';

/** AAD type of the creds row; its key id is ''. */
export const CREDS_TYPE = 'creds';

/** Parses the string session id of {@link AuthStateStore} into the table's integer id. */
export function sessionIdNumber(sessionId: string): number {
  const id = Number(sessionId);
  if (!/^\d+$/.test(sessionId) || !Number.isSafeInteger(id) || id <= 0) {
    throw new Error(`session id must be a positive integer, got ${JSON.stringify(sessionId)}`);
  }
  return id;
}

/**
 * {@link AuthStateStore} on PostgreSQL: creds in `whatsapp_auth_creds`, signal keys in
 * `whatsapp_auth_key`, every value `encodeAuthValue` JSON sealed with the keyring (AAD
 * `session_id|type|key_id`). One `keys.set` call is one transaction; a `null` value deletes its
 * row. Writes of one session are applied in call order. Nothing is cached: `get` reads the table.
 */
export function createPgAuthStore({ orm, keyring, logger }: PgAuthStoreOptions): AuthStateStore {
  const log = logger.child({ component: 'auth-store' });
  const writeQueues = new Map<number, Promise<unknown>>();

  /** Runs `write` after every earlier write of the session, so a slow write never lands over a newer one. */
  const serially = <T>(sessionId: number, write: () => Promise<T>): Promise<T> => {
    const previous = writeQueues.get(sessionId) ?? Promise.resolve();
    const result = previous.then(write, write);
    const tail = result.catch(() => {});
    writeQueues.set(sessionId, tail);
    void tail.then(() => {
      if (writeQueues.get(sessionId) === tail) writeQueues.delete(sessionId);
    });
    return result;
  };

  const reportDecryptFailure = (sessionId: number, err: unknown): never => {
    log.error({ err, session_id: sessionId }, 'stored auth state cannot be decrypted');
    throw err;
  };

  const readCreds = async (sessionId: number): Promise<AuthenticationCreds | undefined> => {
    const { rows } = await orm.em
      .getKnex()
      .raw<{ rows: { value: Buffer; enc_key_id: string }[] }>(
        'select value, enc_key_id from whatsapp_auth_creds where session_id = ?',
        [sessionId],
      );
    const row = rows[0];
    if (!row) return undefined;
    try {
      const json = keyring.open(
        { keyId: row.enc_key_id, data: row.value },
        rowAad(sessionId, CREDS_TYPE),
        `whatsapp_auth_creds (session ${sessionId})`,
      );
      return decodeAuthValue<AuthenticationCreds>(CREDS_TYPE, json.toString('utf8'));
    } catch (err) {
      return reportDecryptFailure(sessionId, err);
    }
  };

  const getKeys = async <T extends KeyType>(sessionId: number, type: T, ids: string[]) => {
    const out: { [id: string]: SignalDataTypeMap[T] } = {};
    if (ids.length === 0) return out;
    // Raw, with bindings: read on every handshake and message, and the ORM's query builder
    // would build the statement each time with the values inlined.
    const { rows } = await orm.em
      .getKnex()
      .raw<{ rows: { key_id: string; value: Buffer; enc_key_id: string }[] }>(
        `select key_id, value, enc_key_id from ${KEY_TABLE} where session_id = ? and type = ? and key_id = any(?::text[])`,
        [sessionId, type, ids],
      );
    try {
      for (const row of rows) {
        const json = keyring.open(
          { keyId: row.enc_key_id, data: row.value },
          rowAad(sessionId, type, row.key_id),
          `whatsapp_auth_key (session ${sessionId}, ${type} ${row.key_id})`,
        );
        out[row.key_id] = decodeAuthValue<SignalDataTypeMap[T]>(type, json.toString('utf8'));
      }
    } catch (err) {
      reportDecryptFailure(sessionId, err);
    }
    return out;
  };

  const setKeys = async (sessionId: number, data: SignalDataSet) => {
    // Encode and encrypt everything first: a value that fails leaves the tables untouched.
    const upserts: { session_id: number; type: string; key_id: string; value: Buffer; enc_key_id: string }[] =
      [];
    const deletes = new Map<string, string[]>();
    for (const type of Object.keys(data) as KeyType[]) {
      for (const [keyId, value] of Object.entries(data[type] ?? {})) {
        if (value == null) {
          deletes.set(type, [...(deletes.get(type) ?? []), keyId]);
          continue;
        }
        const sealed = keyring.seal(encodeAuthValue(value), rowAad(sessionId, type, keyId));
        upserts.push({
          session_id: sessionId,
          type,
          key_id: keyId,
          value: sealed.data,
          enc_key_id: sealed.keyId,
        });
      }
    }
    if (upserts.length === 0 && deletes.size === 0) return;

    await orm.em.fork().transactional(async (em) => {
      // Knex inside the ORM's transaction rather than the query builder: MikroORM 6 inlines
      // parameters into the SQL text (bytea as hex), which made writes ~3x slower than raw pg.
      const trx = em.getTransactionContext<Knex.Transaction>()!;
      for (let i = 0; i < upserts.length; i += INSERT_CHUNK) {
        await trx(KEY_TABLE)
          .insert(upserts.slice(i, i + INSERT_CHUNK))
          .onConflict(['session_id', 'type', 'key_id'])
          .merge(['value', 'enc_key_id']);
      }
      for (const [type, keyIds] of deletes) {
        await trx(KEY_TABLE).where({ session_id: sessionId, type }).whereIn('key_id', keyIds).delete();
      }
    });
  };

  const saveCreds = async (sessionId: number, creds: AuthenticationCreds) => {
    // Serialised now, not when the queue gets to it: Baileys keeps mutating `creds`.
    const sealed = keyring.seal(encodeAuthValue(creds), rowAad(sessionId, CREDS_TYPE));
    await serially(sessionId, async () => {
      const now = new Date();
      await orm.em
        .fork()
        .createQueryBuilder(WhatsappAuthCreds)
        .insert({
          session: sessionId,
          value: sealed.data,
          encKeyId: sealed.keyId,
          createdAt: now,
          updatedAt: now,
        })
        .onConflict('session')
        .merge(['value', 'encKeyId', 'updatedAt'])
        .execute('run');
    });
  };

  return {
    async open(id) {
      const sessionId = sessionIdNumber(id);
      const creds = (await readCreds(sessionId)) ?? initAuthCreds();
      return {
        state: {
          creds,
          keys: {
            get: (type, ids) => getKeys(sessionId, type, ids),
            set: (data) => serially(sessionId, () => setKeys(sessionId, data)),
          },
        },
        saveCreds: () => saveCreds(sessionId, creds),
      };
    },

    async clear(id) {
      const sessionId = sessionIdNumber(id);
      await serially(sessionId, () =>
        orm.em.fork().transactional(async (em) => {
          await em.nativeDelete(WhatsappAuthKey, { session: sessionId });
          await em.nativeDelete(WhatsappAuthCreds, { session: sessionId });
        }),
      );
    },
  };
}
