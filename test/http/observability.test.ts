import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness } from '../support/http-app.js';
import { parsePrometheus as parse } from '../support/prometheus.js';
import { openSse, type SseMessage } from '../support/sse-client.js';
import { until } from '../support/until.js';

const METRICS_TOKEN = 'scrape-secret-0123456789';
const logLines: string[] = [];
let h: ApiHarness;
let origin: string;
let api: string;

beforeAll(async () => {
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _enc, done) {
        logLines.push(String(chunk));
        done();
      },
    }),
  );
  h = await startApiHarness(import.meta.url, { metricsToken: METRICS_TOKEN, heartbeatMs: 150, logger });
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  origin = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
  api = `${origin}/api/v1/whatsapp`;
}, 120_000);
afterAll(async () => {
  await h?.close();
}, 120_000);

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked by the assertions
const json = async (res: Response): Promise<any> => res.json();
const call = (user: number, method: string, path: string, body?: unknown) =>
  fetch(`${api}${path}`, {
    method,
    headers: { ...h.auth(user), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
const token = (user: number, admin = false) => h.auth(user, { admin }).authorization.slice('Bearer '.length);

const scrape = async () => {
  const res = await fetch(`${origin}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  expect(res.status).toBe(200);
  return parse(await res.text());
};
const transitionsTotal = (m: Map<string, number>) =>
  [...m].filter(([k]) => k.startsWith('wa_session_transitions_total{')).reduce((a, [, v]) => a + v, 0);

const reach = (user: number, id: number, status: string) =>
  until(status, async () =>
    (await json(await call(user, 'GET', `/sessions/${id}/`))).status === status ? true : undefined,
  );

const data = (m: SseMessage) =>
  JSON.parse(m.data) as Record<string, unknown> & { session_id: number; to: string };

/** A session of `user`, paired with the simulator and connected; returns its id and noise key. */
async function connectedSession(user: number): Promise<{ id: number; noiseKey: string }> {
  const { id } = await json(
    await call(user, 'POST', '/sessions/', { device_name: `obs-${user}`, start: true }),
  );
  await reach(user, id, 'qr');
  const { qr } = await json(await call(user, 'GET', `/sessions/${id}/qr/`));
  await h.sim.pair(qr, { phone: `55119777${String(id).padStart(5, '0')}` });
  await reach(user, id, 'connected');
  const noiseKey = Buffer.from(
    (await h.daemon.authStore.open(String(id))).state.creds.noiseKey.public,
  ).toString('hex');
  return { id, noiseKey };
}

describe('GET /metrics', { timeout: 60_000 }, () => {
  it('wants METRICS_TOKEN as a bearer token', async () => {
    expect((await fetch(`${origin}/metrics`)).status).toBe(401);
    const wrong = await fetch(`${origin}/metrics`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    expect(await json(wrong)).toMatchObject({ error: { code: 'unauthorized' } });
    const ok = await fetch(`${origin}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await ok.text()).toMatch(/^# HELP /m);
  });

  it('moves with a connect and a kick: disconnects by code, transitions, sessions by state', async () => {
    const before = await scrape();
    const { id, noiseKey } = await connectedSession(1);
    let m = await scrape();
    expect(m.get('wa_sessions{state="connected"}')).toBe(
      (before.get('wa_sessions{state="connected"}') ?? 0) + 1,
    );
    expect(m.get('wa_connect_duration_seconds_count')).toBeGreaterThan(
      before.get('wa_connect_duration_seconds_count') ?? 0,
    );
    const kicks = m.get('wa_disconnects_total{reason="connection_closed",code="428"}') ?? 0;
    const steps = transitionsTotal(m);
    const drops = m.get('wa_session_transitions_total{from="connected",to="backoff"}') ?? 0;

    h.sim.kick({ noiseKey }, 'close');
    m = await until('the reconnect to show in the metrics', async () => {
      const now = await scrape();
      return (now.get('wa_reconnect_attempts_total{outcome="succeeded"}') ?? 0) >= 1 ? now : undefined;
    });
    expect(m.get('wa_disconnects_total{reason="connection_closed",code="428"}')).toBe(kicks + 1);
    expect(m.get('wa_session_transitions_total{from="connected",to="backoff"}')).toBe(drops + 1);
    expect(transitionsTotal(m)).toBeGreaterThanOrEqual(steps + 3); // connected→backoff→connecting→connected
    expect(m.get('wa_sessions{state="connected"}')).toBe(
      (before.get('wa_sessions{state="connected"}') ?? 0) + 1,
    );
    expect(m.get('wa_sessions{state="backoff"}')).toBe(0);
    await call(1, 'DELETE', `/sessions/${id}/`);
  });

  it('is in the OpenAPI document with the stream and the state page graph', async () => {
    const doc = await json(await fetch(`${origin}/docs/json`));
    expect(doc.paths['/metrics'].get.responses['200'].content['text/plain']).toBeDefined();
    expect(doc.paths['/api/v1/whatsapp/sessions/events/stream/'].get.responses['200'].content).toHaveProperty(
      'text/event-stream',
    );
    expect(doc.paths['/healthz']).toBeDefined();
  });
});

describe('GET /sessions/events/stream/', { timeout: 60_000 }, () => {
  const stream = `/sessions/events/stream/`;

  it('answers 401 without a token, and with a bad one in the query', async () => {
    const res = await fetch(`${api}${stream}`);
    expect(res.status).toBe(401);
    expect(await json(res)).toMatchObject({ error: { code: 'unauthorized' } });
    expect((await fetch(`${api}${stream}?access_token=forged`)).status).toBe(401);
    // Only the stream takes the query token.
    expect((await fetch(`${api}/sessions/?access_token=${token(1)}`)).status).toBe(401);
  });

  it('sends heartbeats', async () => {
    const sse = await openSse(`${api}${stream}`, h.auth(3));
    expect(sse.status).toBe(200);
    await sse.until((_m, comments) => comments.filter((c) => c === 'ping').length >= 2, 3_000);
    sse.close();
  });

  it('carries each transition of the caller’s own sessions only, with its event row id', async () => {
    const mine = await openSse(`${api}${stream}?access_token=${token(1)}`);
    const theirs = await openSse(`${api}${stream}`, h.auth(2));
    const admin = await openSse(`${api}${stream}`, h.auth(9, { admin: true }));
    const { id } = await json(await call(1, 'POST', '/sessions/', { device_name: 'sse', start: true }));

    await mine.until((m) => m.some((x) => data(x).session_id === id && data(x).to === 'qr'));
    const first = mine.messages.filter((x) => data(x).session_id === id);
    expect(first[0].event).toBe('transition');
    expect(data(first[0])).toMatchObject({
      session_id: id,
      from: 'idle',
      to: 'connecting',
      event: 'session.start',
      attempt: 0,
      max_attempts: 4,
      delay_ms: null,
      reason: null,
      code: null,
      task_id: null,
      session: { status: expect.any(String), max_attempts: 4 },
    });
    expect(data(first[0]).at).toMatch(/^\d{4}-\d\d-\d\dT/);
    // The id is the row of whatsapp_session_event.
    await h.daemon.transitions.flush();
    const rows = (await json(await call(1, 'GET', `/sessions/${id}/events/?page_size=50`))).items as {
      id: string;
    }[];
    expect(first.map((x) => x.id)).toEqual(
      rows
        .map((r) => String(r.id))
        .reverse()
        .slice(0, first.length),
    );
    await admin.until((m) => m.some((x) => data(x).session_id === id && data(x).to === 'qr'));

    // Stop: another transition, live.
    await call(1, 'POST', `/sessions/${id}/stop/`);
    await mine.until((m) => m.some((x) => data(x).session_id === id && data(x).to === 'idle'));
    await new Promise((r) => setTimeout(r, 300));
    expect(theirs.messages).toEqual([]);
    expect(theirs.comments).toContain('ping');
    mine.close();
    theirs.close();
    admin.close();

    // The query token never reaches the request log.
    const raw = logLines.join('');
    expect(raw).not.toContain(token(1));
    expect(raw).toContain('access_token=[Redacted]');
    await call(1, 'DELETE', `/sessions/${id}/`);
  });

  it('replays stored events after Last-Event-ID, then goes live', async () => {
    const { id } = await json(await call(4, 'POST', '/sessions/', { device_name: 'replay', start: true }));
    await reach(4, id, 'qr');
    await call(4, 'POST', `/sessions/${id}/stop/`);
    await reach(4, id, 'idle');
    await h.daemon.transitions.flush();
    const rows = (await json(await call(4, 'GET', `/sessions/${id}/events/?page_size=50`))).items
      .map((r: { id: string; to: string }) => ({ id: String(r.id), to: r.to }))
      .reverse();
    expect(rows.map((r: { to: string }) => r.to)).toEqual(['connecting', 'qr', 'idle']);

    const sse = await openSse(`${api}${stream}`, { ...h.auth(4), 'last-event-id': rows[0].id });
    await sse.until((m) => m.length >= 2);
    expect(sse.messages.map((x) => x.id)).toEqual([rows[1].id, rows[2].id]);
    expect(sse.messages.map((x) => data(x).to)).toEqual(['qr', 'idle']);

    // The query form, and another user's id space stays invisible.
    const other = await openSse(`${api}${stream}?last_event_id=0`, h.auth(5));
    await other.until((_m, c) => c.includes('ping'), 3_000);
    expect(other.messages).toEqual([]);
    other.close();

    await call(4, 'POST', `/sessions/${id}/start/`);
    await sse.until((m) => m.some((x) => data(x).to === 'qr' && BigInt(x.id ?? 0) > BigInt(rows[2].id)));
    sse.close();
    await call(4, 'DELETE', `/sessions/${id}/`);
  });

  it('refuses a malformed Last-Event-ID', async () => {
    const res = await fetch(`${api}${stream}`, { headers: { ...h.auth(1), 'last-event-id': 'abc' } });
    expect(res.status).toBe(400);
    expect(await json(res)).toMatchObject({ error: { code: 'validation_error' } });
  });
});

describe('GET /healthz', () => {
  it('counts sessions per status without a token', async () => {
    const { id } = await json(await call(6, 'POST', '/sessions/', { device_name: 'idle one' }));
    const body = await json(await fetch(`${origin}/healthz`));
    expect(body.status).toBe('ok');
    expect(Object.keys(body.sessions.by_status)).toEqual([
      'idle',
      'connecting',
      'qr',
      'connected',
      'backoff',
      'failed',
    ]);
    expect(body.sessions.by_status.idle).toBeGreaterThanOrEqual(1);
    expect(body.sessions.total).toBe(
      Object.values(body.sessions.by_status as Record<string, number>).reduce((a, b) => a + b, 0),
    );
    await call(6, 'DELETE', `/sessions/${id}/`);
  });
});
