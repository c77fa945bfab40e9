import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../../src/http/token.js';
import { type ApiHarness, JWT_SECRET, startApiHarness } from '../support/http-app.js';
import { until } from '../support/until.js';

const BASE = '/api/v1/whatsapp';
let h: ApiHarness;

beforeAll(async () => {
  h = await startApiHarness(import.meta.url, { rateLimitMax: 3 });
}, 120_000);
afterAll(async () => {
  await h?.close();
}, 120_000);

const create = async (user = 1, body: Record<string, unknown> = {}) => {
  const res = await h.app.inject({
    method: 'POST',
    url: `${BASE}/sessions/`,
    headers: h.auth(user),
    payload: { device_name: `device of ${user}`, ...body },
  });
  expect(res.statusCode).toBe(201);
  return res.json();
};

const expectError = (res: { statusCode: number; json(): unknown }, status: number, code?: string) => {
  expect(res.statusCode).toBe(status);
  const body = res.json() as { error: { code: string; message: string } };
  expect(body).toEqual({
    error: expect.objectContaining({ code: expect.any(String), message: expect.any(String) }),
  });
  if (code) expect(body.error.code).toBe(code);
  return body;
};

describe('POST /sessions/', () => {
  it('creates an idle session and answers 201 with every field', async () => {
    const s = await create(1, {
      phone_number: '5511999990001',
      proxy_enabled: true,
      proxy_url: 'http://bob:s3cret@proxy.example.com:8080',
    });
    expect(s).toMatchObject({
      usuario_id: 1,
      device_name: 'device of 1',
      phone_number: '5511999990001',
      status: 'idle',
      desired_state: 'stopped',
      auto_reconnect: true,
      attempt: 0,
      max_attempts: 4,
      next_retry_at: null,
      failure_reason: null,
      last_error: null,
      proxy_enabled: true,
      proxy_url: 'http://bob:***@proxy.example.com:8080',
      connected_at: null,
      disconnected_at: null,
      last_reconnect_at: null,
    });
    expect(s.id).toBeGreaterThan(0);
    expect(Date.parse(s.created_at)).not.toBeNaN();
  });
});

const sessionUrl = (id: number, suffix = '') => `${BASE}/sessions/${id}/${suffix}`;

describe('authentication', () => {
  const url = `${BASE}/sessions/`;
  it('answers 401 without a token, with a forged one, an expired one, or a subject that is not a user id', async () => {
    const forged = signToken('another-secret-another-secret-another', { user: 1 });
    const expired = signToken(JWT_SECRET, { user: 1, ttlSeconds: 1, now: Date.now() - 60_000 });
    const header = (payload: object) =>
      `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    const { createHmac } = await import('node:crypto');
    const sign = (payload: object) => {
      const unsigned = header(payload);
      return `${unsigned}.${createHmac('sha256', JWT_SECRET).update(unsigned).digest('base64url')}`;
    };
    const noneAlg = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"1"}').toString('base64url')}.`;
    for (const authorization of [
      undefined,
      'Bearer',
      'Basic dXNlcjpwYXNz',
      `Bearer ${forged}`,
      `Bearer ${expired}`,
      `Bearer ${sign({ sub: 'alice' })}`,
      `Bearer ${sign({ sub: '-1' })}`,
      `Bearer ${sign({})}`,
      `Bearer ${noneAlg}`,
    ]) {
      const res = await h.app.inject({ method: 'GET', url, headers: authorization ? { authorization } : {} });
      expectError(res, 401, 'unauthorized');
    }
  });

  it('accepts sub as a string or a number', async () => {
    const { createHmac } = await import('node:crypto');
    const unsigned = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 7, exp: Math.floor(Date.now() / 1000) + 60 })).toString('base64url')}`;
    const token = `${unsigned}.${createHmac('sha256', JWT_SECRET).update(unsigned).digest('base64url')}`;
    const res = await h.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ items: [], total: 0 });
  });
});

describe('GET /sessions/', () => {
  it('lists own sessions, paginated, filtered by status', async () => {
    for (let i = 0; i < 3; i++) await create(3);
    const first = await h.app.inject({ url: `${BASE}/sessions/?page=1&page_size=2`, headers: h.auth(3) });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({ total: 3, page: 1, page_size: 2 });
    expect(first.json().items).toHaveLength(2);
    const second = await h.app.inject({ url: `${BASE}/sessions?page=2&page_size=2`, headers: h.auth(3) });
    expect(second.json().items).toHaveLength(1);
    const idle = await h.app.inject({ url: `${BASE}/sessions/?status=idle`, headers: h.auth(3) });
    expect(idle.json().total).toBe(3);
    const failed = await h.app.inject({ url: `${BASE}/sessions/?status=failed`, headers: h.auth(3) });
    expect(failed.json().total).toBe(0);
    expectError(await h.app.inject({ url: `${BASE}/sessions/?status=sleeping`, headers: h.auth(3) }), 400);
  });
});

describe('GET /sessions/{id}/', () => {
  it('answers the session, with or without the trailing slash, and 404 for an unknown id', async () => {
    const s = await create();
    const res = await h.app.inject({ url: `${BASE}/sessions/${s.id}`, headers: h.auth(1) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(s);
    expectError(await h.app.inject({ url: sessionUrl(999_999), headers: h.auth(1) }), 404, 'not_found');
  });
});

describe('PATCH /sessions/{id}/', () => {
  it('updates fields and masks the proxy password', async () => {
    const s = await create();
    const res = await h.app.inject({
      method: 'PATCH',
      url: sessionUrl(s.id),
      headers: h.auth(1),
      payload: {
        device_name: 'renamed',
        auto_reconnect: false,
        proxy_enabled: true,
        proxy_url: 'socks5://u:pw@10.0.0.1:1080',
      },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      device_name: 'renamed',
      auto_reconnect: false,
      proxy_enabled: true,
      proxy_url: 'socks5://u:***@10.0.0.1:1080',
    });
    expect(JSON.stringify(res.json())).not.toContain('pw@');
  });

  it('refuses proxy_enabled without a proxy_url (400) and an unknown id (404)', async () => {
    const s = await create();
    const res = await h.app.inject({
      method: 'PATCH',
      url: sessionUrl(s.id),
      headers: h.auth(1),
      payload: { proxy_enabled: true },
    });
    const body = expectError(res, 400, 'validation_error') as unknown as {
      error: { details: { field: string }[] };
    };
    expect(body.error.details[0].field).toBe('body.proxy_url');
    expectError(
      await h.app.inject({
        method: 'PATCH',
        url: sessionUrl(999_999),
        headers: h.auth(1),
        payload: { device_name: 'x' },
      }),
      404,
    );
  });

  it('reconnects a live session when its proxy changes', async () => {
    const s = await create(1, { start: true });
    await h.daemon.supervisor.waitForSession(String(s.id), (v) => v.status === 'qr', 30_000);
    const res = await h.app.inject({
      method: 'PATCH',
      url: sessionUrl(s.id),
      headers: h.auth(1),
      payload: { proxy_enabled: true, proxy_url: 'http://127.0.0.1:3128' },
    });
    expect(res.statusCode).toBe(200);
    // The machine re-enters `online` with a new socket (routing through the proxy comes with the proxy issue).
    await h.daemon.transitions.flush();
    const events = await h.daemon.sessions.listEvents(s.id);
    expect(events.items.some((e) => e.event === 'session.configure' && e.to === 'connecting')).toBe(true);
    // Renaming does not reconnect.
    await h.app.inject({
      method: 'PATCH',
      url: sessionUrl(s.id),
      headers: h.auth(1),
      payload: { device_name: 'n' },
    });
    await h.daemon.transitions.flush();
    const after = await h.daemon.sessions.listEvents(s.id);
    expect(after.items.filter((e) => e.event === 'session.configure')).toHaveLength(1);
    await h.app.inject({ method: 'POST', url: sessionUrl(s.id, 'stop/'), headers: h.auth(1) });
  });
});

describe('DELETE /sessions/{id}/', () => {
  it('answers 204, then 404', async () => {
    const s = await create();
    const res = await h.app.inject({ method: 'DELETE', url: sessionUrl(s.id), headers: h.auth(1) });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expectError(await h.app.inject({ url: sessionUrl(s.id), headers: h.auth(1) }), 404);
    expectError(await h.app.inject({ method: 'DELETE', url: sessionUrl(s.id), headers: h.auth(1) }), 404);
  });
});

describe('POST /sessions/{id}/start/ and /stop/', () => {
  it('are idempotent, answer 202 with the state, and are rate limited per session', async () => {
    const s = await create();
    const start = await h.app.inject({ method: 'POST', url: sessionUrl(s.id, 'start/'), headers: h.auth(1) });
    expect(start.statusCode).toBe(202);
    expect(start.json()).toMatchObject({ id: s.id, desired_state: 'running' });
    expect(['connecting', 'qr']).toContain(start.json().status);
    const again = await h.app.inject({
      method: 'POST',
      url: sessionUrl(s.id, 'start'),
      headers: { ...h.auth(1), 'content-type': 'application/json' },
      payload: '',
    });
    expect(again.statusCode).toBe(202);
    const stop = await h.app.inject({ method: 'POST', url: sessionUrl(s.id, 'stop/'), headers: h.auth(1) });
    expect(stop.statusCode).toBe(202);
    expect(stop.json()).toMatchObject({ status: 'idle', desired_state: 'stopped' });
    // Limit 3 per session and route per window in this suite; stop stays idempotent meanwhile.
    for (let i = 0; i < 2; i++) {
      const repeat = await h.app.inject({
        method: 'POST',
        url: sessionUrl(s.id, 'stop/'),
        headers: h.auth(1),
      });
      expect(repeat.json()).toMatchObject({ status: 'idle', desired_state: 'stopped' });
    }
    const limited = await h.app.inject({
      method: 'POST',
      url: sessionUrl(s.id, 'stop/'),
      headers: h.auth(1),
    });
    expectError(limited, 429, 'rate_limited');
    // Another session has its own budget.
    const other = await create();
    expect(
      (await h.app.inject({ method: 'POST', url: sessionUrl(other.id, 'stop/'), headers: h.auth(1) }))
        .statusCode,
    ).toBe(202);
  });

  it('answer 404 for an unknown session', async () => {
    expectError(
      await h.app.inject({ method: 'POST', url: sessionUrl(999_998, 'start/'), headers: h.auth(1) }),
      404,
    );
    expectError(
      await h.app.inject({ method: 'POST', url: sessionUrl(999_998, 'stop/'), headers: h.auth(1) }),
      404,
    );
  });
});

describe('POST /sessions/{id}/reconnect/', () => {
  it('answers 202 with a task_id that tags the episode, and 404 for an unknown id', async () => {
    const s = await create();
    const res = await h.app.inject({
      method: 'POST',
      url: sessionUrl(s.id, 'reconnect/'),
      headers: h.auth(1),
    });
    expect(res.statusCode).toBe(202);
    const { task_id, session_id, message } = res.json();
    expect(session_id).toBe(s.id);
    expect(message).toEqual(expect.any(String));
    expect(task_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    await h.daemon.supervisor.waitForSession(String(s.id), (v) => v.status === 'qr', 30_000);
    await h.daemon.transitions.flush();
    const events = await h.app.inject({
      url: `${sessionUrl(s.id, 'events/')}?task_id=${task_id}`,
      headers: h.auth(1),
    });
    expect(events.statusCode).toBe(200);
    expect(events.json().total).toBeGreaterThan(0);
    for (const e of events.json().items) expect(e.task_id).toBe(task_id);
    await h.app.inject({ method: 'POST', url: sessionUrl(s.id, 'stop/'), headers: h.auth(1) });
    expectError(
      await h.app.inject({ method: 'POST', url: sessionUrl(999_998, 'reconnect/'), headers: h.auth(1) }),
      404,
    );
  });
});

describe('GET /sessions/{id}/qr/ and POST /sessions/{id}/pairing-code/', () => {
  it('answer 409 while the session shows no QR', async () => {
    const s = await create();
    expectError(await h.app.inject({ url: sessionUrl(s.id, 'qr/'), headers: h.auth(1) }), 409, 'no_qr');
    const pc = await h.app.inject({
      method: 'POST',
      url: sessionUrl(s.id, 'pairing-code/'),
      headers: h.auth(1),
      payload: { phone_number: '5511999990002' },
    });
    expectError(pc, 409, 'not_pairing');
    expectError(await h.app.inject({ url: sessionUrl(999_997, 'qr/'), headers: h.auth(1) }), 404);
  });

  it('give the QR as JSON or PNG, and a pairing code, while it waits for a scan', async () => {
    const s = await create(1, { start: true });
    await h.daemon.supervisor.waitForSession(String(s.id), (v) => v.status === 'qr', 30_000);
    const json = await h.app.inject({ url: sessionUrl(s.id, 'qr/'), headers: h.auth(1) });
    expect(json.statusCode).toBe(200);
    expect(json.json().qr).toMatch(/^https:\/\/wa\.me\/settings\/linked_devices#/);
    expect(Date.parse(json.json().expires_at)).toBeGreaterThan(Date.now());
    const png = await h.app.inject({
      url: sessionUrl(s.id, 'qr/'),
      headers: { ...h.auth(1), accept: 'image/png' },
    });
    expect(png.statusCode).toBe(200);
    expect(png.headers['content-type']).toBe('image/png');
    expect(png.rawPayload.subarray(0, 8)).toEqual(
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    );
    const pc = await h.app.inject({
      method: 'POST',
      url: sessionUrl(s.id, 'pairing-code/'),
      headers: h.auth(1),
      payload: { phone_number: '5511999990003' },
    });
    expect(pc.statusCode).toBe(200);
    expect(pc.json().code).toMatch(/^[A-Z0-9]{8}$/);
    await h.app.inject({ method: 'POST', url: sessionUrl(s.id, 'stop/'), headers: h.auth(1) });
  });
});

describe('POST /sessions/{id}/logout/', () => {
  it('stops the session and wipes its credentials', async () => {
    const s = await create(1, { start: true });
    await h.daemon.supervisor.waitForSession(String(s.id), (v) => v.status === 'qr', 30_000);
    const res = await h.app.inject({ method: 'POST', url: sessionUrl(s.id, 'logout/'), headers: h.auth(1) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'idle', desired_state: 'stopped' });
    expectError(
      await h.app.inject({ method: 'POST', url: sessionUrl(999_996, 'logout/'), headers: h.auth(1) }),
      404,
    );
  });
});

describe('GET /sessions/status/ and /sessions/{id}/events/', () => {
  it('summarise own sessions and page through the transition log', async () => {
    const s = await create(4, { start: true });
    await create(4);
    await h.daemon.supervisor.waitForSession(String(s.id), (v) => v.status === 'qr', 30_000);
    const status = await h.app.inject({ url: `${BASE}/sessions/status/`, headers: h.auth(4) });
    expect(status.statusCode).toBe(200);
    expect(status.json()).toMatchObject({ total: 2, by_status: { qr: 1, idle: 1, connected: 0 } });
    await h.app.inject({ method: 'POST', url: sessionUrl(s.id, 'stop/'), headers: h.auth(4) });
    await h.daemon.transitions.flush();
    const events = await h.app.inject({
      url: `${sessionUrl(s.id, 'events/')}?page_size=1`,
      headers: h.auth(4),
    });
    expect(events.statusCode).toBe(200);
    expect(events.json()).toMatchObject({ page: 1, page_size: 1 });
    expect(events.json().total).toBeGreaterThanOrEqual(3);
    expect(events.json().items[0]).toMatchObject({ to: 'idle', event: 'session.stop' });
    expectError(await h.app.inject({ url: sessionUrl(999_995, 'events/'), headers: h.auth(4) }), 404);
  });
});

describe('GET /sessions/status/ stays true while bodies are reused', () => {
  const summary = async (user: number, admin = false) => {
    const res = await h.app.inject({ url: `${BASE}/sessions/status/`, headers: h.auth(user, { admin }) });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    return res.json() as {
      total: number;
      by_status: Record<string, number>;
      sessions: { id: number; device_name: string; status: string; desired_state: string }[];
    };
  };
  const entry = (body: Awaited<ReturnType<typeof summary>>, id: number) =>
    body.sessions.find((s) => s.id === id);

  it('follows a live state change, an API rename, a row changed behind the API, and each owner sees only its own', async () => {
    const a = await create(6);
    const b = await create(6);
    await create(7);
    const first = await summary(6);
    expect(first).toMatchObject({ total: 2, by_status: { idle: 2, qr: 0 } });
    expect(await summary(6)).toEqual(first);

    // Live state: the actor moves, no row does.
    await h.app.inject({ method: 'POST', url: sessionUrl(a.id, 'start/'), headers: h.auth(6) });
    await h.daemon.supervisor.waitForSession(String(a.id), (v) => v.status === 'qr', 30_000);
    const started = await summary(6);
    expect(started.by_status).toMatchObject({ idle: 1, qr: 1 });
    expect(entry(started, a.id)).toMatchObject({ status: 'qr', desired_state: 'running' });

    // A row changed through the API.
    await h.app.inject({
      method: 'PATCH',
      url: sessionUrl(b.id),
      headers: h.auth(6),
      payload: { device_name: 'renamed' },
    });
    expect(entry(await summary(6), b.id)?.device_name).toBe('renamed');

    // A row changed by someone else (another tool on the same database): no view moved, and the
    // daemon hears of it only by reading again, at most a second later.
    await h.daemon.db.orm.em
      .getConnection()
      .execute('update whatsapp_session set device_name = ? where id = ?', ['renamed in SQL', b.id]);
    const changedAt = Date.now();
    await until('the summary to show the row changed in SQL', async () =>
      entry(await summary(6), b.id)?.device_name === 'renamed in SQL' ? true : undefined,
    );
    expect(Date.now() - changedAt).toBeLessThan(3_000);

    // Scopes do not share bodies: user 7 and the admin each get theirs.
    const other = await summary(7);
    expect(other.total).toBe(1);
    expect(entry(other, a.id)).toBeUndefined();
    const admin = await summary(9, true);
    expect(admin.total).toBeGreaterThanOrEqual(3);
    expect(entry(admin, b.id)?.device_name).toBe('renamed in SQL');

    // Only the actor moves (stopped behind the API): desired_state stays running in the row.
    h.daemon.supervisor.stop(String(a.id));
    const live = await summary(6);
    expect(live.by_status).toMatchObject({ idle: 2, qr: 0 });
    expect(entry(live, a.id)).toMatchObject({ status: 'idle', desired_state: 'running' });
  });
});

describe('isolation', () => {
  it("gives user 2 a 404 on each of user 1's routes, and lets the admin see both", async () => {
    const mine = await create(1);
    const theirs = await create(2);
    const routes: [string, string, object?][] = [
      ['GET', ''],
      ['PATCH', '', { device_name: 'x' }],
      ['POST', 'start/'],
      ['POST', 'stop/'],
      ['POST', 'reconnect/'],
      ['POST', 'logout/'],
      ['GET', 'qr/'],
      ['POST', 'pairing-code/', { phone_number: '5511999990004' }],
      ['GET', 'events/'],
      ['DELETE', ''],
    ];
    for (const [method, suffix, payload] of routes) {
      const res = await h.app.inject({
        method: method as 'GET',
        url: sessionUrl(mine.id, suffix),
        headers: h.auth(2),
        payload,
      });
      expectError(res, 404, 'not_found');
    }
    const list2 = await h.app.inject({ url: `${BASE}/sessions/?page_size=500`, headers: h.auth(2) });
    expect(list2.json().items.map((s: { usuario_id: number }) => s.usuario_id)).toEqual(
      expect.arrayContaining([2]),
    );
    expect(list2.json().items.every((s: { usuario_id: number }) => s.usuario_id === 2)).toBe(true);
    const admin = h.auth(9, { admin: true });
    const all = await h.app.inject({ url: `${BASE}/sessions/?page_size=500`, headers: admin });
    const ids = all.json().items.map((s: { id: number }) => s.id);
    expect(ids).toEqual(expect.arrayContaining([mine.id, theirs.id]));
    expect((await h.app.inject({ url: sessionUrl(mine.id), headers: admin })).statusCode).toBe(200);
    expect((await h.app.inject({ url: sessionUrl(theirs.id), headers: admin })).statusCode).toBe(200);
    // Still there: user 2's attempts changed nothing.
    expect((await h.app.inject({ url: sessionUrl(mine.id), headers: h.auth(1) })).json().device_name).toBe(
      mine.device_name,
    );
  });
});

describe('routing and limits', () => {
  it('answers unknown routes with 404 and wrong methods with 405, in the error format', async () => {
    expectError(await h.app.inject({ url: '/nope', headers: h.auth(1) }), 404, 'not_found');
    expectError(
      await h.app.inject({ url: `${BASE}/sessions/1/nope/`, headers: h.auth(1) }),
      404,
      'not_found',
    );
    const put = await h.app.inject({
      method: 'PUT',
      url: `${BASE}/sessions/1/`,
      headers: h.auth(1),
      payload: {},
    });
    expectError(put, 405, 'method_not_allowed');
    expect(put.headers.allow).toContain('PATCH');
    expectError(
      await h.app.inject({ method: 'GET', url: `${BASE}/sessions/1/start`, headers: h.auth(1) }),
      405,
    );
    expectError(await h.app.inject({ method: 'DELETE', url: '/healthz' }), 405);
  });

  it('refuses a body over 256 KB with 413', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: `${BASE}/sessions/`,
      headers: h.auth(1),
      payload: { device_name: 'x'.repeat(300 * 1024) },
    });
    expectError(res, 413, 'payload_too_large');
  });
});

describe('operations', () => {
  it('GET /healthz and /readyz answer 200 without a token', async () => {
    expect((await h.app.inject({ url: '/healthz' })).json()).toMatchObject({
      status: 'ok',
      sessions: { total: expect.any(Number) },
    });
    const ready = await h.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready' });
  });

  it('/docs/json is an OpenAPI 3 document listing every route', async () => {
    const res = await h.app.inject({ url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    const expected: [string, string][] = [
      ['post', '/sessions/'],
      ['get', '/sessions/'],
      ['get', '/sessions/status/'],
      ['get', '/sessions/{id}/'],
      ['patch', '/sessions/{id}/'],
      ['delete', '/sessions/{id}/'],
      ['post', '/sessions/{id}/start/'],
      ['post', '/sessions/{id}/stop/'],
      ['post', '/sessions/{id}/reconnect/'],
      ['post', '/sessions/{id}/logout/'],
      ['get', '/sessions/{id}/qr/'],
      ['post', '/sessions/{id}/pairing-code/'],
      ['get', '/sessions/{id}/events/'],
    ];
    for (const [method, path] of expected) {
      const op = doc.paths[`${BASE}${path}`]?.[method];
      expect(op, `${method} ${path}`).toBeDefined();
      expect(Object.keys(op.responses).length).toBeGreaterThan(1);
      if (path.includes('{id}'))
        expect(
          op.parameters.some((p: { name: string; in: string }) => p.name === 'id' && p.in === 'path'),
        ).toBe(true);
    }
    expect(doc.paths['/healthz'].get).toBeDefined();
    expect(doc.paths['/readyz'].get.responses['503']).toBeDefined();
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    const docs = await h.app.inject({ url: '/docs' });
    expect(docs.statusCode).toBeLessThan(400);
  });
});
