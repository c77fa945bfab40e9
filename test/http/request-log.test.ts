import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { type ApiHarness, startApiHarness } from '../support/http-app.js';

const BASE = '/api/v1/whatsapp';
const lines: string[] = [];
let h: ApiHarness;

beforeAll(async () => {
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  h = await startApiHarness(import.meta.url, { logger: createLogger({ level: 'debug', destination }) });
});
afterAll(async () => {
  await h?.close();
});

describe('request log', () => {
  it('logs requests without the bearer token, a passphrase or a proxy password', async () => {
    const { authorization } = h.auth(1);
    const token = authorization.slice('Bearer '.length);
    const created = await h.app.inject({
      method: 'POST',
      url: `${BASE}/sessions/`,
      headers: { authorization },
      payload: {
        device_name: 'log test',
        proxy_enabled: true,
        proxy_url: 'socks5://carol:Pr0xyS3cret@127.0.0.1:1080',
      },
    });
    expect(created.statusCode).toBe(201);
    const id = created.json().id;
    await h.app.inject({
      url: `${BASE}/sessions/${id}/export/`,
      headers: { authorization, 'x-backup-passphrase': 'correct horse battery staple' },
    });
    await h.app.inject({ url: `${BASE}/sessions/`, headers: { authorization: `Bearer ${token}x` } });

    const all = lines.join('\n');
    // The request log is on, so the absence below means something.
    expect(lines.some((l) => l.includes('"msg":"incoming request"'))).toBe(true);
    expect(all).toContain(`/sessions/${id}/export/`);
    expect(all).not.toContain(token);
    expect(all).not.toContain('correct horse battery staple');
    expect(all).not.toContain('Pr0xyS3cret');
  });
});
