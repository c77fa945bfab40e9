import { randomBytes } from 'node:crypto';
import { Curve } from '@whiskeysockets/baileys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgAuthStore } from '../../src/persistence/pg-auth-store.js';
import { rotateEncryptionKeys } from '../../src/persistence/rotate-keys.js';
import { createKeyring, DecryptionError, type Keyring, keyIdOf } from '../../src/persistence/secret-box.js';
import { createSessionRepository } from '../../src/persistence/session-repository.js';
import { encodeAuthValue } from '../../src/whatsapp/auth-store.js';
import { openFixture, type PersistenceFixture, silentLogger } from './helpers.js';

let fx: PersistenceFixture;

beforeAll(async () => {
  fx = await openFixture(import.meta.url);
});

afterAll(async () => {
  await fx?.close();
});

interface Written {
  id: number;
  creds: string;
  keys: Record<string, Buffer>;
  proxyUrl: string;
}

/** A session with creds, 7 sessions keys and a proxy URL, all sealed with `keyring`. */
async function writeSession(keyring: Keyring): Promise<Written> {
  const repo = createSessionRepository({ orm: fx.orm, keyring });
  const proxyUrl = `http://u:${randomBytes(6).toString('hex')}@proxy.example.com:3128`;
  const { id } = await repo.create({ usuarioId: 1, deviceName: 'r', proxyEnabled: true, proxyUrl });
  const opened = await createPgAuthStore({ orm: fx.orm, keyring, logger: silentLogger }).open(String(id));
  await opened.saveCreds();
  const keys = Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`k${i}`, randomBytes(40)]));
  await opened.state.keys.set({ session: keys, 'pre-key': { '1': Curve.generateKeyPair() } });
  return { id, creds: encodeAuthValue(opened.state.creds), keys, proxyUrl };
}

async function readBack(keyring: Keyring, w: Written) {
  const opened = await createPgAuthStore({ orm: fx.orm, keyring, logger: silentLogger }).open(String(w.id));
  expect(encodeAuthValue(opened.state.creds)).toBe(w.creds);
  const keys = await opened.state.keys.get('session', Object.keys(w.keys));
  expect(Object.fromEntries(Object.entries(keys).map(([k, v]) => [k, Buffer.from(v)]))).toEqual(w.keys);
  expect(Object.keys(await opened.state.keys.get('pre-key', ['1']))).toEqual(['1']);
  expect((await createSessionRepository({ orm: fx.orm, keyring }).get(w.id))?.proxyUrl).toBe(w.proxyUrl);
}

describe('npm run keys:rotate (rotateEncryptionKeys)', () => {
  it('re-encrypts everything onto the new key, resumably and idempotently', async () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const strayKey = randomBytes(32);
    const a = await writeSession(createKeyring(oldKey));
    const b = await writeSession(createKeyring(oldKey));
    // Sealed with a key the first run does not know: that run stops there.
    const c = await writeSession(createKeyring(strayKey));

    const first = rotateEncryptionKeys({
      orm: fx.orm,
      keyring: createKeyring(newKey, [oldKey]),
      logger: silentLogger,
      batchSize: 4,
    });
    await expect(first).rejects.toThrow(DecryptionError);
    await expect(first).rejects.toThrow(`key ${keyIdOf(strayKey)}, which is not configured`);
    // Batches (of 4: each session has 8 keys) before the failing one stay committed.
    const onNew = await fx.sql<{ session_id: number; n: string }>(
      'select session_id, count(*) as n from whatsapp_auth_key where enc_key_id = ? group by 1 order by 1',
      [keyIdOf(newKey)],
    );
    expect(onNew.map((r) => [r.session_id, Number(r.n)])).toEqual([
      [a.id, 8],
      [b.id, 8],
    ]);

    const second = await rotateEncryptionKeys({
      orm: fx.orm,
      keyring: createKeyring(newKey, [oldKey, strayKey]),
      logger: silentLogger,
      batchSize: 3,
    });
    expect(second).toEqual({ authKeys: 8, authCreds: 3, proxyUrls: 3 });

    const third = await rotateEncryptionKeys({
      orm: fx.orm,
      keyring: createKeyring(newKey, [oldKey, strayKey]),
      logger: silentLogger,
    });
    expect(third).toEqual({ authKeys: 0, authCreds: 0, proxyUrls: 0 });

    for (const table of ['whatsapp_auth_key', 'whatsapp_auth_creds']) {
      const ids = await fx.sql<{ enc_key_id: string }>(`select distinct enc_key_id from ${table}`);
      expect(ids.map((r) => r.enc_key_id)).toEqual([keyIdOf(newKey)]);
    }
    const proxies = await fx.sql<{ proxy_url: string }>('select proxy_url from whatsapp_session');
    expect(proxies.every((r) => r.proxy_url.startsWith(`${keyIdOf(newKey)}:`))).toBe(true);

    // Only the new key from now on.
    const newOnly = createKeyring(newKey);
    for (const w of [a, b, c]) await readBack(newOnly, w);
  });

  it('skips values a daemon already running on the new key has rewritten', async () => {
    await fx.sql('delete from whatsapp_session');
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const w = await writeSession(createKeyring(oldKey));
    const daemonKeys = createKeyring(newKey, [oldKey]);
    const daemon = await createPgAuthStore({ orm: fx.orm, keyring: daemonKeys, logger: silentLogger }).open(
      String(w.id),
    );
    const fresh = randomBytes(40);
    await daemon.state.keys.set({ session: { k0: fresh } });

    const result = await rotateEncryptionKeys({ orm: fx.orm, keyring: daemonKeys, logger: silentLogger });
    expect(result).toEqual({ authKeys: 7, authCreds: 1, proxyUrls: 1 });
    expect(Buffer.from((await daemon.state.keys.get('session', ['k0'])).k0)).toEqual(fresh);
    await readBack(createKeyring(newKey), { ...w, keys: { ...w.keys, k0: fresh } });
  });
});
