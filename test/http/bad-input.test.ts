import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness } from '../support/http-app.js';

const BASE = '/api/v1/whatsapp';
// Starting a daemon on embedded PGlite (TEST_DATABASE_URL unset) can take a while on a busy machine.
let h: ApiHarness;
let id: number;

beforeAll(async () => {
  h = await startApiHarness(import.meta.url);
  const res = await h.app.inject({
    method: 'POST',
    url: `${BASE}/sessions/`,
    headers: h.auth(1),
    payload: { device_name: 'target' },
  });
  id = res.json().id;
}, 120_000);
afterAll(async () => {
  await h?.close();
}, 120_000);

type Case = {
  name: string;
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string | (() => string);
  body?: unknown;
  /** Sent as is, with content-type application/json. */
  raw?: string;
  status?: number;
  field?: string;
};

const s = () => `${BASE}/sessions/${id}`;
const cases: Case[] = [
  // create: wrong types, unknown and missing fields
  {
    name: 'create without device_name',
    method: 'POST',
    path: `${BASE}/sessions/`,
    body: {},
    field: 'body.device_name',
  },
  {
    name: 'create with an empty device_name',
    method: 'POST',
    path: `${BASE}/sessions/`,
    body: { device_name: '' },
    field: 'body.device_name',
  },
  {
    name: 'create with a numeric device_name',
    method: 'POST',
    path: `${BASE}/sessions/`,
    body: { device_name: 42 },
    field: 'body.device_name',
  },
  {
    name: 'create with a 101-char device_name',
    method: 'POST',
    path: `${BASE}/sessions/`,
    body: { device_name: 'x'.repeat(101) },
  },
  {
    name: 'create with auto_reconnect "true"',
    method: 'POST',
    path: `${BASE}/sessions/`,
    body: { device_name: 'a', auto_reconnect: 'true' },
    field: 'body.auto_reconnect',
  },
  {
    name: 'create with start 1',
    method: 'POST',
    path: `${BASE}/sessions/`,
    body: { device_name: 'a', start: 1 },
    field: 'body.start',
  },
  {
    name: 'create with an unknown field',
    method: 'POST',
    path: `${BASE}/sessions/`,
    body: { device_name: 'a', color: 'red' },
    field: 'body.color',
  },
  {
    name: 'create with usuario_id (not settable)',
    method: 'POST',
    path: `${BASE}/sessions/`,
    body: { device_name: 'a', usuario_id: 2 },
    field: 'body.usuario_id',
  },
  {
    name: 'create with a phone_number with letters',
    method: 'POST',
    path: `${BASE}/sessions/`,
    body: { device_name: 'a', phone_number: '55abc' },
    field: 'body.phone_number',
  },
  {
    name: 'create with a numeric phone_number',
    method: 'POST',
    path: `${BASE}/sessions/`,
    body: { device_name: 'a', phone_number: 5511999990000 },
  },
  {
    name: 'create with an array body',
    method: 'POST',
    path: `${BASE}/sessions/`,
    body: [{ device_name: 'a' }],
  },
  { name: 'create with a string body', method: 'POST', path: `${BASE}/sessions/`, raw: '"device"' },
  { name: 'create with invalid JSON', method: 'POST', path: `${BASE}/sessions/`, raw: '{"device_name": ' },
  {
    name: 'create with a trailing comma',
    method: 'POST',
    path: `${BASE}/sessions/`,
    raw: '{"device_name": "a",}',
  },
  {
    name: 'create with a 1 MB body',
    method: 'POST',
    path: `${BASE}/sessions/`,
    body: { device_name: 'a'.repeat(1024 * 1024) },
    status: 413,
  },
  // proxy
  {
    name: 'create with an ftp: proxy',
    method: 'POST',
    path: `${BASE}/sessions/`,
    body: { device_name: 'a', proxy_enabled: true, proxy_url: 'ftp://proxy.example.com:21' },
    field: 'body.proxy_url',
  },
  {
    name: 'create with spaces in proxy_url',
    method: 'POST',
    path: `${BASE}/sessions/`,
    body: { device_name: 'a', proxy_url: 'http://proxy example.com:8080' },
    field: 'body.proxy_url',
  },
  {
    name: 'create with a proxy without port',
    method: 'POST',
    path: `${BASE}/sessions/`,
    body: { device_name: 'a', proxy_url: 'http://proxy.example.com' },
    field: 'body.proxy_url',
  },
  {
    name: 'create with proxy port 0',
    method: 'POST',
    path: `${BASE}/sessions/`,
    body: { device_name: 'a', proxy_url: 'socks5://proxy.example.com:0' },
    field: 'body.proxy_url',
  },
  {
    name: 'create with proxy port 70000',
    method: 'POST',
    path: `${BASE}/sessions/`,
    body: { device_name: 'a', proxy_url: 'socks5://proxy.example.com:70000' },
    field: 'body.proxy_url',
  },
  {
    name: 'create with a proxy path',
    method: 'POST',
    path: `${BASE}/sessions/`,
    body: { device_name: 'a', proxy_url: 'http://proxy.example.com:8080/path?q=1' },
    field: 'body.proxy_url',
  },
  {
    name: 'create with proxy_enabled and no proxy_url',
    method: 'POST',
    path: `${BASE}/sessions/`,
    body: { device_name: 'a', proxy_enabled: true },
    field: 'body.proxy_url',
  },
  {
    name: 'create with a numeric proxy_url',
    method: 'POST',
    path: `${BASE}/sessions/`,
    body: { device_name: 'a', proxy_url: 8080 },
  },
  // ids
  { name: 'get a negative id', method: 'GET', path: `${BASE}/sessions/-1/`, field: 'params.id' },
  { name: 'get id 0', method: 'GET', path: `${BASE}/sessions/0/`, field: 'params.id' },
  { name: 'get an id beyond int4', method: 'GET', path: `${BASE}/sessions/2147483648/`, field: 'params.id' },
  {
    name: 'get a huge id',
    method: 'GET',
    path: `${BASE}/sessions/99999999999999999999999/`,
    field: 'params.id',
  },
  { name: 'get a non-numeric id', method: 'GET', path: `${BASE}/sessions/abc/`, field: 'params.id' },
  { name: 'get a fractional id', method: 'GET', path: `${BASE}/sessions/1.5/`, field: 'params.id' },
  { name: 'start a non-numeric id', method: 'POST', path: `${BASE}/sessions/x1/start/`, field: 'params.id' },
  { name: 'delete a negative id', method: 'DELETE', path: `${BASE}/sessions/-7/`, field: 'params.id' },
  { name: 'events of a non-numeric id', method: 'GET', path: `${BASE}/sessions/%20/events/` },
  // patch
  { name: 'patch with an empty body object', method: 'PATCH', path: s, body: {} },
  {
    name: 'patch with an unknown field',
    method: 'PATCH',
    path: s,
    body: { status: 'connected' },
    field: 'body.status',
  },
  {
    name: 'patch with a null device_name',
    method: 'PATCH',
    path: s,
    body: { device_name: null },
    field: 'body.device_name',
  },
  {
    name: 'patch proxy_enabled "yes"',
    method: 'PATCH',
    path: s,
    body: { proxy_enabled: 'yes' },
    field: 'body.proxy_enabled',
  },
  {
    name: 'patch with an ftp: proxy',
    method: 'PATCH',
    path: s,
    body: { proxy_url: 'ftp://u:p@h:21' },
    field: 'body.proxy_url',
  },
  { name: 'patch with invalid JSON', method: 'PATCH', path: s, raw: "{'device_name': 'a'}" },
  // queries
  { name: 'list page 0', method: 'GET', path: `${BASE}/sessions/?page=0`, field: 'querystring.page' },
  {
    name: 'list page_size 501',
    method: 'GET',
    path: `${BASE}/sessions/?page_size=501`,
    field: 'querystring.page_size',
  },
  {
    name: 'list page_size abc',
    method: 'GET',
    path: `${BASE}/sessions/?page_size=abc`,
    field: 'querystring.page_size',
  },
  {
    name: 'list an unknown status',
    method: 'GET',
    path: `${BASE}/sessions/?status=online`,
    field: 'querystring.status',
  },
  {
    name: 'list with an unknown parameter',
    method: 'GET',
    path: `${BASE}/sessions/?owner=2`,
    field: 'querystring.owner',
  },
  {
    name: 'events with a task_id that is not a UUID',
    method: 'GET',
    path: () => `${s()}/events/?task_id=123`,
    field: 'querystring.task_id',
  },
  // pairing code
  {
    name: 'pairing-code without a body',
    method: 'POST',
    path: () => `${s()}/pairing-code/`,
    body: undefined,
  },
  {
    name: 'pairing-code without phone_number',
    method: 'POST',
    path: () => `${s()}/pairing-code/`,
    body: {},
    field: 'body.phone_number',
  },
  {
    name: 'pairing-code with a + prefix',
    method: 'POST',
    path: () => `${s()}/pairing-code/`,
    body: { phone_number: '+5511999990000' },
    field: 'body.phone_number',
  },
  {
    name: 'pairing-code with a numeric phone',
    method: 'POST',
    path: () => `${s()}/pairing-code/`,
    body: { phone_number: 5511999990000 },
  },
  {
    name: 'pairing-code with an extra field',
    method: 'POST',
    path: () => `${s()}/pairing-code/`,
    body: { phone_number: '5511999990000', code: 'X' },
    field: 'body.code',
  },
  // media type
  {
    name: 'create as text/plain',
    method: 'POST',
    path: `${BASE}/sessions/`,
    raw: 'device_name=a',
    status: 415,
  },
];

describe('malformed requests', () => {
  it('has at least 30 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  it.each(cases)('$name → 4xx with the error body', async (c) => {
    const url = typeof c.path === 'function' ? c.path() : c.path;
    const headers: Record<string, string> = { ...h.auth(1) };
    let payload: string | undefined;
    if (c.raw !== undefined) {
      payload = c.raw;
      headers['content-type'] = c.status === 415 ? 'text/plain' : 'application/json';
    } else if (c.body !== undefined) {
      payload = JSON.stringify(c.body);
      headers['content-type'] = 'application/json';
    }
    const res = await h.app.inject({ method: c.method, url, headers, payload });
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.statusCode).toBeLessThan(500);
    expect(res.statusCode).toBe(c.status ?? 400);
    const body = res.json();
    expect(body).toEqual({
      error: expect.objectContaining({ code: expect.any(String), message: expect.any(String) }),
    });
    expect(JSON.stringify(body)).not.toMatch(/\bat .*\.(ts|js):\d+/);
    if (c.field) {
      expect(body.error.code).toBe('validation_error');
      expect(body.error.details.map((d: { field: string }) => d.field)).toContain(c.field);
    }
  });

  it('never echoes a proxy password in a validation error', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: `${BASE}/sessions/`,
      headers: h.auth(1),
      payload: { device_name: 'a', proxy_url: 'ftp://user:TOPSECRET@h:21' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.body).not.toContain('TOPSECRET');
  });

  it('left the target session untouched', async () => {
    const res = await h.app.inject({ url: `${s()}/`, headers: h.auth(1) });
    expect(res.json()).toMatchObject({ device_name: 'target', proxy_enabled: false, status: 'idle' });
  });
});
