import { connect, createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness } from '../support/http-app.js';

interface Relay {
  /** `url` with its host and port replaced by the relay's. */
  via(url: string): string;
  /** Drops every connection and refuses new ones: the database is unreachable. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

/**
 * A TCP relay in front of this file's own database, so that cutting it makes the database
 * unreachable for this daemon only: the shared PostgreSQL server keeps serving every other file.
 */
async function startRelay(): Promise<Relay> {
  let target: URL | undefined;
  let down = false;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    if (down || !target) {
      client.destroy();
      return;
    }
    const db = connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, db]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(db).pipe(client);
    client.on('close', () => db.destroy());
    db.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    via(url) {
      target = new URL(url);
      const relayed = new URL(url);
      relayed.hostname = '127.0.0.1';
      relayed.port = String(port);
      return relayed.toString();
    },
    cut() {
      down = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      down = false;
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

let relay: Relay;
let h: ApiHarness;

beforeAll(async () => {
  relay = await startRelay();
  h = await startApiHarness(import.meta.url, { viaDatabaseUrl: async (url) => relay.via(url) });
}, 120_000);
afterAll(async () => {
  relay?.restore();
  await h?.close();
  await relay?.close();
}, 120_000);

const until = async (what: string, probe: () => Promise<boolean>, timeoutMs = 15_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('GET /readyz', { timeout: 60_000 }, () => {
  it('answers 503 while the database is unreachable and 200 once it is back; /healthz stays 200', async () => {
    expect((await h.app.inject({ url: '/readyz' })).statusCode).toBe(200);

    relay.cut();
    const down = await h.app.inject({ url: '/readyz' });
    expect(down.statusCode).toBe(503);
    expect(down.json()).toEqual({ error: { code: 'not_ready', message: 'not ready' } });
    // Liveness does not depend on the database.
    const health = await h.app.inject({ url: '/healthz' });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toMatchObject({ status: 'ok', sessions: { total: 0 } });

    relay.restore();
    await until(
      '/readyz to answer 200 again',
      async () => (await h.app.inject({ url: '/readyz' })).statusCode === 200,
    );
  });
});
