import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DUPLICATE_IMPORT_WARNING } from '../../src/backup/backup-service.js';
import { type ApiHarness, startApiHarness } from '../support/http-app.js';
import { authSnapshot, PROXY_URL, sampleKeys } from './helpers.js';

const BASE = '/api/v1/whatsapp';
const PASSPHRASE = 'http backup passphrase';
let h: ApiHarness;

beforeAll(async () => {
  h = await startApiHarness(import.meta.url);
});
afterAll(async () => {
  await h?.close();
});

/** A session of `user` created through the API, then given paired creds and keys in its store. */
async function pairedSession(user = 1, phone = '5511966660001', { proxy = true } = {}) {
  const res = await h.app.inject({
    method: 'POST',
    url: `${BASE}/sessions/`,
    headers: h.auth(user),
    payload: {
      device_name: 'Backup me',
      phone_number: phone,
      ...(proxy ? { proxy_enabled: true, proxy_url: PROXY_URL } : {}),
    },
  });
  expect(res.statusCode).toBe(201);
  const id = res.json().id as number;
  const { state, saveCreds } = await h.daemon.authStore.open(String(id));
  state.creds.me = { id: `${phone}:3@s.whatsapp.net`, name: 'paired' };
  await saveCreds();
  await state.keys.set(sampleKeys());
  return {
    id,
    noiseKey: Buffer.from(state.creds.noiseKey.public).toString('hex'),
    noisePrivate: Buffer.from(state.creds.noiseKey.private),
    identityPrivate: Buffer.from(state.creds.signedIdentityKey.private),
    adv: state.creds.advSecretKey,
  };
}

/** `passphrase: null` sends no header (server-key mode). */
const exportOf = (id: number, user = 1, passphrase: string | null = PASSPHRASE) =>
  h.app.inject({
    method: 'GET',
    url: `${BASE}/sessions/${id}/export/`,
    headers: { ...h.auth(user), ...(passphrase === null ? {} : { 'x-backup-passphrase': passphrase }) },
  });

/** `passphrase: null` sends no X-Backup-Passphrase header. */
const importAs = (
  body: string,
  {
    user = 2,
    passphrase = PASSPHRASE,
    query = '',
    admin = false,
  }: { user?: number; passphrase?: string | null; query?: string; admin?: boolean } = {},
) =>
  h.app.inject({
    method: 'POST',
    url: `${BASE}/sessions/import/${query}`,
    headers: {
      ...h.auth(user, { admin }),
      'content-type': 'application/json',
      ...(passphrase === null ? {} : { 'x-backup-passphrase': passphrase }),
    },
    payload: body,
  });

async function rowCounts() {
  const conn = h.daemon.db.orm.em.getConnection();
  const [row] = await conn.execute(
    `select (select count(*)::int from whatsapp_session) as s, (select count(*)::int from whatsapp_auth_key) as k,
            (select count(*)::int from whatsapp_auth_creds) as c`,
  );
  return row;
}

describe('GET /sessions/:id/export/', () => {
  it('sends the backup file as an attachment, proxy masked, no key material in clear', async () => {
    const s = await pairedSession();
    const res = await exportOf(s.id);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['content-disposition']).toBe(`attachment; filename="backup_session_${s.id}.json"`);
    const file = res.json();
    expect(file).toMatchObject({
      format: 'wa-supervisor/session-backup',
      version: 1,
      session_id: s.id,
      usuario_id: 1,
      proxy_url: 'http://proxyuser:***@proxy.example.com:8080',
      encryption: { kdf: 'scrypt', N: 32768, r: 8, p: 1 },
    });
    for (const secret of [s.noisePrivate, s.identityPrivate, Buffer.from(s.adv, 'base64')]) {
      expect(res.body).not.toContain(secret.toString('base64'));
      expect(res.body).not.toContain(secret.toString('hex'));
    }
    expect(res.body).not.toContain('Pr0xyS3cretPass');
  });

  it('answers 400 to a short passphrase, 409 to a never-paired session, 404 to another user', async () => {
    const s = await pairedSession(1, '5511966660002');
    const short = await exportOf(s.id, 1, 'too short');
    expect(short.statusCode).toBe(400);
    expect(short.json().error).toMatchObject({ code: 'weak_passphrase' });
    expect(short.json().error.message).toContain('12 characters');

    const fresh = await h.app.inject({
      method: 'POST',
      url: `${BASE}/sessions/`,
      headers: h.auth(1),
      payload: { device_name: 'not paired' },
    });
    const unpaired = await exportOf(fresh.json().id);
    expect(unpaired.statusCode).toBe(409);
    expect(unpaired.json().error.code).toBe('not_paired');

    const foreign = await exportOf(s.id, 2);
    expect(foreign.statusCode).toBe(404);
    expect((await exportOf(s.id, 2, null)).statusCode).toBe(404);
    expect((await exportOf(999_999)).statusCode).toBe(404);
  });
});

describe('POST /sessions/import/', () => {
  it('creates a stopped session owned by the caller, with the same auth state, and warns about 440', async () => {
    const s = await pairedSession(1, '5511966660003');
    const exported = await exportOf(s.id);
    const summary = async () =>
      (await h.app.inject({ method: 'GET', url: `${BASE}/sessions/status/`, headers: h.auth(2) })).json() as {
        total: number;
        sessions: { id: number }[];
      };
    const before = await summary();
    const res = await importAs(exported.body, { user: 2 });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({
      message: 'Session created',
      session_id: expect.any(Number),
      created: true,
      warning: DUPLICATE_IMPORT_WARNING,
    });
    const id = res.json().session_id;
    // At once in the owner's summary, though the summary had just been read.
    const after = await summary();
    expect(after.total).toBe(before.total + 1);
    expect(after.sessions.map((x) => x.id)).toContain(id);
    const got = await h.app.inject({ method: 'GET', url: `${BASE}/sessions/${id}/`, headers: h.auth(2) });
    expect(got.json()).toMatchObject({
      usuario_id: 2,
      status: 'idle',
      desired_state: 'stopped',
      device_name: 'Backup me',
      proxy_url: 'http://proxyuser:***@proxy.example.com:8080',
    });
    const { orm } = h.daemon.db;
    expect(await authSnapshot(orm, h.daemon.keyring, id)).toEqual(
      await authSnapshot(orm, h.daemon.keyring, s.id),
    );
    // Importing again gives another session.
    const again = await importAs(exported.body, { user: 2 });
    expect(again.json().session_id).not.toBe(id);
  });

  it('lets an admin name the owner with ?owner=, and nobody else', async () => {
    const s = await pairedSession(1, '5511966660004');
    const { body } = await exportOf(s.id, 1, null);
    const admin = await importAs(body, { user: 3, admin: true, query: '?owner=8', passphrase: null });
    expect(admin.statusCode).toBe(201);
    const owned = await h.app.inject({
      method: 'GET',
      url: `${BASE}/sessions/${admin.json().session_id}/`,
      headers: h.auth(8),
    });
    expect(owned.statusCode).toBe(200);
    const user = await importAs(body, { user: 3, query: '?owner=8', passphrase: null });
    expect(user.statusCode).toBe(400);
    expect(user.json().error.code).toBe('owner_not_allowed');
  });

  it('answers 422 and writes nothing for a bad, edited or wrongly unlocked file', async () => {
    const s = await pairedSession(1, '5511966660005');
    const text = (await exportOf(s.id)).body;
    const file = JSON.parse(text);
    const before = await rowCounts();
    const cases: [string, string, string | null, string][] = [
      ['version', JSON.stringify({ ...file, version: 2 }), PASSPHRASE, 'unsupported_version'],
      ['device_name', JSON.stringify({ ...file, device_name: 'x' }), PASSPHRASE, 'decryption_failed'],
      ['truncated', text.slice(0, 200), PASSPHRASE, 'invalid_backup'],
      ['empty', '', PASSPHRASE, 'invalid_backup'],
      ['wrong passphrase', text, 'not the passphrase at all', 'decryption_failed'],
      ['no passphrase', text, null, 'passphrase_required'],
      ['wrong type', JSON.stringify({ ...file, usuario_id: 'one' }), PASSPHRASE, 'invalid_backup'],
    ];
    for (const [what, body, passphrase, code] of cases) {
      const res = await importAs(body, { passphrase });
      expect({ what, status: res.statusCode, code: res.json().error?.code }).toEqual({
        what,
        status: 422,
        code,
      });
    }
    const versionMessage = (await importAs(JSON.stringify({ ...file, version: 2 }))).json().error.message;
    expect(versionMessage).toContain('supported versions: 1');
    expect(await rowCounts()).toEqual(before);
  });

  it('takes files up to 5 MB and answers 413 beyond', async () => {
    const res = await importAs(`{"pad":"${'x'.repeat(5 * 1024 * 1024)}"}`);
    expect(res.statusCode).toBe(413);
  });
});

describe('backup over HTTP, end to end', { timeout: 60_000 }, () => {
  it('exports and imports with a real client; the restored session logs in as the same device', async () => {
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}${BASE}`;
    // No proxy: the connector would dial the (made-up) proxy of the other tests.
    const s = await pairedSession(1, '5511966660006', { proxy: false });

    const exported = await fetch(`${base}/sessions/${s.id}/export/`, {
      headers: { ...h.auth(1), 'X-Backup-Passphrase': PASSPHRASE },
    });
    expect(exported.status).toBe(200);
    const text = await exported.text();
    // Like curl --data-binary @file without a content type.
    const imported = await fetch(`${base}/sessions/import/`, {
      method: 'POST',
      headers: {
        ...h.auth(4),
        'X-Backup-Passphrase': PASSPHRASE,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: text,
    });
    expect(imported.status).toBe(201);
    const { session_id: id } = (await imported.json()) as { session_id: number };

    const logins = h.sim.loginCount(s.noiseKey);
    const started = await fetch(`${base}/sessions/${id}/start/`, { method: 'POST', headers: h.auth(4) });
    expect(started.status).toBe(202);
    await h.daemon.supervisor.waitForSession(String(id), (v) => v.status === 'connected', 20_000);
    expect(h.sim.loginCount(s.noiseKey)).toBe(logins + 1);
    expect(h.sim.registrationCount(s.noiseKey)).toBe(0);
    const stopped = await fetch(`${base}/sessions/${id}/stop/`, { method: 'POST', headers: h.auth(4) });
    expect(stopped.status).toBe(202);
  });
});
