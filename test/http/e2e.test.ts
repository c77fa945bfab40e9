import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness } from '../support/http-app.js';
import { until } from '../support/until.js';

let h: ApiHarness;
let base: string;

beforeAll(async () => {
  h = await startApiHarness(import.meta.url);
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}/api/v1/whatsapp`;
}, 120_000);
afterAll(async () => {
  await h?.close();
}, 120_000);

const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...h.auth(1),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return res;
};

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked by the assertions
const json = async (res: Response): Promise<any> => res.json();

const statusOf = async (id: number) => (await json(await call('GET', `/sessions/${id}/`))).status as string;
const reach = (id: number, status: string) =>
  until(status, async () => ((await statusOf(id)) === status ? true : undefined));

async function authRows(id: number): Promise<number> {
  // The daemon's own connection: works for PostgreSQL and the embedded PGlite alike.
  const conn = h.daemon.db.orm.em.getConnection();
  const [creds] = await conn.execute(
    'select count(*)::int as n from whatsapp_auth_creds where session_id = ?',
    [id],
  );
  const [keys] = await conn.execute('select count(*)::int as n from whatsapp_auth_key where session_id = ?', [
    id,
  ]);
  return Number(creds.n) + Number(keys.n);
}

describe('the API over a real socket, PostgreSQL and the simulator', { timeout: 90_000 }, () => {
  it('creates, pairs, survives a kick, reconnects by task, stops, starts without QR, and deletes', async () => {
    // 1. create with start → qr
    const created = await call('POST', '/sessions/', { device_name: 'e2e', start: true });
    expect(created.status).toBe(201);
    const { id } = await json(created);
    await reach(id, 'qr');

    // 2. GET qr, as JSON and as PNG
    const qrRes = await call('GET', `/sessions/${id}/qr/`);
    expect(qrRes.status).toBe(200);
    const { qr, expires_at } = await json(qrRes);
    expect(qr).toMatch(/^https:\/\/wa\.me\/settings\/linked_devices#/);
    expect(Date.parse(expires_at)).toBeGreaterThan(Date.now());
    const png = await call('GET', `/sessions/${id}/qr`, undefined, { accept: 'image/png' });
    expect(png.headers.get('content-type')).toBe('image/png');
    expect(
      Buffer.from(await png.arrayBuffer())
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG');

    // 3–4. the simulator plays the phone → connected
    await h.sim.pair(qr, { phone: '5511977770001' });
    await reach(id, 'connected');
    const noiseKey = Buffer.from(
      (await h.daemon.authStore.open(String(id))).state.creds.noiseKey.public,
    ).toString('hex');
    expect(h.sim.registrationCount(noiseKey)).toBe(1);

    // 5. a kick → reconnect, visible in the events
    h.sim.kick({ noiseKey }, 'close');
    await until('a drop and a new connection in the events', async () => {
      await h.daemon.transitions.flush();
      const items = (await json(await call('GET', `/sessions/${id}/events/?page_size=50`))).items as {
        from: string;
        to: string;
        code: number | null;
      }[];
      const dropped = items.findIndex((e) => e.from === 'connected' && e.code === 428);
      return dropped > 0 && items.slice(0, dropped).some((e) => e.to === 'connected') ? true : undefined;
    });
    await reach(id, 'connected');

    // 6. POST reconnect → its task_id tags the episode's events
    const rec = await call('POST', `/sessions/${id}/reconnect/`);
    expect(rec.status).toBe(202);
    const { task_id, session_id } = await json(rec);
    expect(session_id).toBe(id);
    await until('the reconnect episode to connect', async () => {
      await h.daemon.transitions.flush();
      const page = await json(await call('GET', `/sessions/${id}/events/?task_id=${task_id}`));
      return page.items.some((e: { to: string }) => e.to === 'connected') ? page : undefined;
    });

    // 7. stop → idle, and the simulator's socket is gone
    const stop = await call('POST', `/sessions/${id}/stop/`);
    expect(stop.status).toBe(202);
    expect((await json(stop)).status).toBe('idle');
    await h.sim.waitFor(() => !h.sim.connections().some((c) => c.noiseKey === noiseKey), 5_000);

    // 8. start → connected without a QR
    const logins = h.sim.loginCount(noiseKey);
    const start = await call('POST', `/sessions/${id}/start/`);
    expect(start.status).toBe(202);
    await reach(id, 'connected');
    expect(h.sim.loginCount(noiseKey)).toBe(logins + 1);
    expect(h.sim.registrationCount(noiseKey)).toBe(1);

    // 9. delete → 404 afterwards, and the credential rows are gone
    expect(await authRows(id)).toBeGreaterThan(0);
    const del = await call('DELETE', `/sessions/${id}/`);
    expect(del.status).toBe(204);
    expect((await call('GET', `/sessions/${id}/`)).status).toBe(404);
    await h.daemon.transitions.flush();
    expect(await authRows(id)).toBe(0);
    await h.sim.waitFor(() => !h.sim.connections().some((c) => c.noiseKey === noiseKey), 5_000);
  });

  it('answers 401 without a token and serves /docs/json on the same port', async () => {
    const res = await fetch(`${base}/sessions/`);
    expect(res.status).toBe(401);
    expect(await json(res)).toMatchObject({ error: { code: 'unauthorized' } });
    const doc = await json(await fetch(new URL('/docs/json', base)));
    expect(doc.openapi).toMatch(/^3\./);
  });
});
