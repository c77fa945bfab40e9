import { randomBytes } from 'node:crypto';
import { type AuthenticationCreds, Curve, type KeyPair } from '@whiskeysockets/baileys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgAuthStore } from '../../src/persistence/pg-auth-store.js';
import { createKeyring, DecryptionError } from '../../src/persistence/secret-box.js';
import { type AuthStateStore, encodeAuthValue } from '../../src/whatsapp/auth-store.js';
import { openFixture, type PersistenceFixture, silentLogger } from './helpers.js';

const TABLES = ['whatsapp_session', 'whatsapp_auth_creds', 'whatsapp_auth_key', 'whatsapp_session_event'];

let fx: PersistenceFixture;
let store: AuthStateStore;

beforeAll(async () => {
  fx = await openFixture(import.meta.url);
  store = createPgAuthStore({ orm: fx.orm, keyring: fx.keyring, logger: silentLogger });
});

afterAll(async () => {
  await fx?.close();
});

const newSession = async (proxyUrl?: string) =>
  String((await fx.repo.create({ usuarioId: 1, deviceName: 'test', proxyUrl })).id);

const keyCount = async (sessionId: string, type?: string) => {
  const [row] = await fx.sql<{ n: string }>(
    `select count(*) as n from whatsapp_auth_key where session_id = ? ${type ? 'and type = ?' : ''}`,
    type ? [Number(sessionId), type] : [Number(sessionId)],
  );
  return Number(row.n);
};

/** Every form a secret could leak in: raw bytes, base64 (plain and url-safe) and hex. */
function forms(secret: Buffer) {
  return {
    raw: secret,
    text: [secret.toString('base64'), secret.toString('base64url'), secret.toString('hex')],
  };
}

describe('PostgreSQL auth store', () => {
  it('gives fresh unsaved creds to a new session, and reads back what it saved', async () => {
    const id = await newSession();
    const first = await store.open(id);
    expect(first.state.creds.registered).toBe(false);

    const again = await store.open(id);
    expect(again.state.creds.noiseKey.private).not.toEqual(first.state.creds.noiseKey.private);

    first.state.creds.me = { id: '5511999990001:1@s.whatsapp.net', name: 'x' };
    await first.saveCreds();
    const reopened = await store.open(id);
    expect(encodeAuthValue(reopened.state.creds)).toBe(encodeAuthValue(first.state.creds));
    expect(Buffer.isBuffer(reopened.state.creds.noiseKey.private)).toBe(true);
  });

  it('stores and reads signal keys of every shape', async () => {
    const id = await newSession();
    const { state } = await store.open(id);
    const preKey = Curve.generateKeyPair();
    const session = randomBytes(300);
    await state.keys.set({
      'pre-key': { '1': preKey },
      session: { '5511999990001.0': session },
      'app-state-sync-key': { AAAA: { keyData: randomBytes(32), timestamp: 5 } },
      'sender-key-memory': { 'g@g.us': { 'a@s.whatsapp.net': true } },
    });
    const got = await state.keys.get('pre-key', ['1', '2']);
    expect(Object.keys(got)).toEqual(['1']);
    expect(Buffer.from(got['1'].private)).toEqual(Buffer.from(preKey.private));
    expect(Buffer.from((await state.keys.get('session', ['5511999990001.0']))['5511999990001.0'])).toEqual(
      session,
    );
    const sync = (await state.keys.get('app-state-sync-key', ['AAAA'])).AAAA;
    expect(typeof (sync as { toJSON?: unknown }).toJSON).toBe('function');
    expect(await state.keys.get('sender-key-memory', ['g@g.us'])).toEqual({
      'g@g.us': { 'a@s.whatsapp.net': true },
    });
  });

  it('deletes a key set to null', async () => {
    const id = await newSession();
    const { state } = await store.open(id);
    await state.keys.set({ 'pre-key': { '5': Curve.generateKeyPair(), '6': Curve.generateKeyPair() } });
    await state.keys.set({ 'pre-key': { '5': null } });
    expect(Object.keys(await state.keys.get('pre-key', ['5', '6']))).toEqual(['6']);
    expect(await keyCount(id, 'pre-key')).toBe(1);
  });

  it('applies concurrent writes of one session in call order', async () => {
    const id = await newSession();
    const { state } = await store.open(id);
    const values = Array.from({ length: 5 }, () => randomBytes(16));
    await Promise.all(values.map((v) => state.keys.set({ session: { s: v } })));
    expect(Buffer.from((await state.keys.get('session', ['s'])).s)).toEqual(values[4]);
  });

  it('writes one keys.set call atomically: a failing later statement leaves nothing of the batch', async () => {
    const id = await newSession();
    const { state } = await store.open(id);
    await state.keys.set({ session: { boom: randomBytes(8) } });
    // The delete runs after the upserts, in the same transaction; make it fail.
    await fx.sql(`create function refuse_boom() returns trigger language plpgsql as $$
      begin raise exception 'refused by test trigger'; end $$`);
    await fx.sql(`create trigger refuse_boom before delete on whatsapp_auth_key
      for each row when (old.key_id = 'boom') execute function refuse_boom()`);
    try {
      const batch = Object.fromEntries(
        Array.from({ length: 30 }, (_, i) => [String(100 + i), Curve.generateKeyPair()]),
      );
      await expect(state.keys.set({ 'pre-key': batch, session: { boom: null } })).rejects.toThrow(
        /refused by test trigger/,
      );
      expect(await keyCount(id, 'pre-key')).toBe(0);
      expect(await keyCount(id, 'session')).toBe(1);
    } finally {
      await fx.sql('drop trigger refuse_boom on whatsapp_auth_key');
      await fx.sql('drop function refuse_boom()');
    }
    await state.keys.set({ 'pre-key': { '100': Curve.generateKeyPair() }, session: { boom: null } });
    expect(await keyCount(id, 'pre-key')).toBe(1);
    expect(await keyCount(id, 'session')).toBe(0);
  });

  it('clear() removes the creds and every key', async () => {
    const id = await newSession();
    const opened = await store.open(id);
    await opened.saveCreds();
    await opened.state.keys.set({ 'pre-key': { '1': Curve.generateKeyPair() } });
    await store.clear(id);
    expect(await keyCount(id)).toBe(0);
    expect(await fx.sql('select 1 from whatsapp_auth_creds where session_id = ?', [Number(id)])).toHaveLength(
      0,
    );
    const fresh = await store.open(id);
    expect(fresh.state.creds.noiseKey.private).not.toEqual(opened.state.creds.noiseKey.private);
  });
});

describe('encryption at rest', () => {
  let id: string;
  let creds: AuthenticationCreds;
  let preKey: KeyPair;
  const proxyPassword = `pp-${randomBytes(12).toString('hex')}`;

  beforeAll(async () => {
    id = await newSession(`http://user:${proxyPassword}@proxy.example.com:8080`);
    const opened = await store.open(id);
    creds = opened.state.creds;
    await opened.saveCreds();
    preKey = Curve.generateKeyPair();
    await opened.state.keys.set({ 'pre-key': { '1': preKey, '2': Curve.generateKeyPair() } });
    await fx.repo.recordTransition({
      sessionId: Number(id),
      at: new Date(),
      from: 'idle',
      to: 'connecting',
      event: 'session.start',
      attempt: 0,
      delayMs: null,
      reason: null,
      code: null,
      taskId: null,
      status: 'connecting',
      lastError: null,
    });
  });

  it('leaves no plaintext secret in any column of any table', async () => {
    const secrets: Record<string, Buffer> = {
      'noiseKey.private': Buffer.from(creds.noiseKey.private),
      'signedIdentityKey.private': Buffer.from(creds.signedIdentityKey.private),
      'signedPreKey.keyPair.private': Buffer.from(creds.signedPreKey.keyPair.private),
      advSecretKey: Buffer.from(creds.advSecretKey, 'base64'),
      'pre-key private': Buffer.from(preKey.private),
      'proxy password': Buffer.from(proxyPassword),
    };
    // The search would find them if they were stored as the store serialises them.
    const plaintext = encodeAuthValue(creds);
    expect(plaintext).toContain(secrets['noiseKey.private'].toString('base64'));
    expect(plaintext).toContain(creds.advSecretKey);

    let cells = 0;
    for (const table of TABLES) {
      // Every column as returned by the driver (bytea as Buffer) and the row as PostgreSQL prints it.
      const rows = await fx.sql(`select *, t::text as "row as text" from ${table} t`);
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) {
        for (const [column, value] of Object.entries(row)) {
          if (value == null) continue;
          cells++;
          const bytes = Buffer.isBuffer(value) ? value : Buffer.from(String(value));
          const text = Buffer.isBuffer(value) ? value.toString('latin1') : String(value);
          for (const [name, secret] of Object.entries(secrets)) {
            const where = `${table}.${column} contains ${name}`;
            const { raw, text: encodings } = forms(secret);
            expect(bytes.includes(raw), where).toBe(false);
            for (const encoded of encodings) expect(text.includes(encoded), where).toBe(false);
          }
        }
      }
    }
    expect(cells).toBeGreaterThan(20);
  });

  it('fails loudly on a flipped ciphertext byte, without revealing the key', async () => {
    const [row] = await fx.sql<{ value: Buffer }>(
      'select value from whatsapp_auth_creds where session_id = ?',
      [Number(id)],
    );
    const tampered = Buffer.from(row.value);
    tampered[20] ^= 0x01;
    await fx.sql('update whatsapp_auth_creds set value = ? where session_id = ?', [tampered, Number(id)]);
    try {
      const err = await store.open(id).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DecryptionError);
      const message = (err as Error).message;
      expect(message).toMatch(/whatsapp_auth_creds \(session \d+\).*authentication failed/);
      expect(message).not.toContain(fx.key.toString('base64'));
      expect(message).not.toContain(fx.key.toString('hex'));
    } finally {
      await fx.sql('update whatsapp_auth_creds set value = ? where session_id = ?', [row.value, Number(id)]);
    }
    await expect(store.open(id)).resolves.toBeDefined();
  });

  it('refuses a ciphertext copied onto another row', async () => {
    const [one] = await fx.sql<{ value: Buffer; enc_key_id: string }>(
      `select value, enc_key_id from whatsapp_auth_key where session_id = ? and type = 'pre-key' and key_id = '1'`,
      [Number(id)],
    );
    await fx.sql(
      `update whatsapp_auth_key set value = ? where session_id = ? and type = 'pre-key' and key_id = '2'`,
      [one.value, Number(id)],
    );
    const { state } = await store.open(id);
    await expect(state.keys.get('pre-key', ['2'])).rejects.toThrow(DecryptionError);
    await expect(state.keys.get('pre-key', ['2'])).rejects.toThrow(/pre-key 2\).*belongs to another row/);

    // The creds of one session pasted onto another.
    const other = await newSession();
    await fx.sql(
      `insert into whatsapp_auth_creds (session_id, value, enc_key_id, created_at, updated_at)
       select ?, value, enc_key_id, now(), now() from whatsapp_auth_creds where session_id = ?`,
      [Number(other), Number(id)],
    );
    await expect(store.open(other)).rejects.toThrow(DecryptionError);
  });

  it('refuses a value sealed with a key it does not have, naming the key id only', async () => {
    const otherKey = randomBytes(32);
    const stranger = createPgAuthStore({
      orm: fx.orm,
      keyring: createKeyring(otherKey),
      logger: silentLogger,
    });
    const err = await stranger.open(id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DecryptionError);
    expect((err as Error).message).toContain(`key ${fx.keyring.currentKeyId}, which is not configured`);
    expect((err as Error).message).not.toContain(fx.key.toString('base64'));
  });

  it('encrypts proxy_url and reads it back', async () => {
    const [row] = await fx.sql<{ proxy_url: string }>('select proxy_url from whatsapp_session where id = ?', [
      Number(id),
    ]);
    expect(row.proxy_url.startsWith(`${fx.keyring.currentKeyId}:`)).toBe(true);
    expect((await fx.repo.get(Number(id)))?.proxyUrl).toBe(
      `http://user:${proxyPassword}@proxy.example.com:8080`,
    );
  });
});
