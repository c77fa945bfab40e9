import type { MikroORM } from '@mikro-orm/postgresql';
import { proto, type SignalDataSet } from '@whiskeysockets/baileys';
import { readSessionAuth } from '../../src/backup/backup-service.js';
import { createPgAuthStore } from '../../src/persistence/pg-auth-store.js';
import type { Keyring } from '../../src/persistence/secret-box.js';
import { encodeAuthValue } from '../../src/whatsapp/auth-store.js';
import { type PersistenceFixture, silentLogger } from '../persistence/helpers.js';

export const PROXY_URL = 'http://proxyuser:Pr0xyS3cretPass@proxy.example.com:8080';

/** One value of every signal key type Baileys stores, app-state sync keys as protobuf objects. */
export function sampleKeys(): SignalDataSet {
  const bytes = (n: number, fill: number) => Buffer.alloc(n, fill);
  return {
    'pre-key': {
      '1': { private: bytes(32, 1), public: bytes(32, 2) },
      '2': { private: bytes(32, 3), public: bytes(32, 4) },
    },
    session: { '5511999990001.0': bytes(120, 5) },
    'sender-key': { 'group@g.us::5511999990001::0': bytes(64, 6) },
    'sender-key-memory': { 'group@g.us': { '5511999990001:0@s.whatsapp.net': true } },
    'app-state-sync-key': {
      AAAAAQ: proto.Message.AppStateSyncKeyData.fromObject({
        keyData: bytes(32, 7),
        fingerprint: { rawId: 1, currentIndex: 2, deviceIndexes: [0, 1] },
        timestamp: 1_700_000_000_000,
      }),
    },
    'app-state-sync-version': { regular: { version: 3, hash: bytes(128, 8), indexValueMap: {} } },
    'lid-mapping': { '5511999990001': '123456789' },
    'device-list': { '5511999990001': ['0', '1'] },
    tctoken: { '5511999990001@s.whatsapp.net': { token: bytes(16, 9), timestamp: '1700000000' } },
    'identity-key': { '5511999990001.0': bytes(33, 10) },
  };
}

/** A session that looks paired: a row with a proxy, creds with `me`, and one key of every type. */
export async function seedPairedSession(
  fx: PersistenceFixture,
  { usuarioId = 1, phone = '5511988887777', withKeys = true } = {},
): Promise<{ id: number; noisePrivate: Buffer; identityPrivate: Buffer; advSecretKey: string }> {
  const row = await fx.repo.create({
    usuarioId,
    deviceName: 'DX Connect Web',
    phoneNumber: phone,
    proxyEnabled: true,
    proxyUrl: PROXY_URL,
  });
  const store = createPgAuthStore({ orm: fx.orm, keyring: fx.keyring, logger: silentLogger });
  const { state, saveCreds } = await store.open(String(row.id));
  state.creds.me = { id: `${phone}:7@s.whatsapp.net`, lid: '99887766:7@lid', name: 'seed' };
  await saveCreds();
  if (withKeys) await state.keys.set(sampleKeys());
  return {
    id: row.id,
    noisePrivate: Buffer.from(state.creds.noiseKey.private),
    identityPrivate: Buffer.from(state.creds.signedIdentityKey.private),
    advSecretKey: state.creds.advSecretKey,
  };
}

/** A session's whole auth state as comparable JSON strings: `type/id` → BufferJSON text. */
export async function authSnapshot(orm: MikroORM, keyring: Keyring, sessionId: number) {
  const { creds, keys } = await readSessionAuth(orm, keyring, sessionId);
  const flat: Record<string, string> = {};
  for (const [type, rows] of Object.entries(keys)) {
    for (const [id, value] of Object.entries(rows)) flat[`${type}/${id}`] = encodeAuthValue(value);
  }
  return { creds: creds ? encodeAuthValue(creds) : undefined, keys: flat };
}

export async function countRows(fx: Pick<PersistenceFixture, 'sql'>) {
  const [row] = await fx.sql<{ sessions: string; creds: string; keys: string }>(
    `select (select count(*) from whatsapp_session) as sessions,
            (select count(*) from whatsapp_auth_creds) as creds,
            (select count(*) from whatsapp_auth_key) as keys`,
  );
  return { sessions: Number(row.sessions), creds: Number(row.creds), keys: Number(row.keys) };
}
