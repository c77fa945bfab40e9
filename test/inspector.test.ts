import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { fromCallback } from 'xstate';
import type { ConnectionInput, GateGrantedEvent } from '../machines/connection-protocol.js';
import { sanitizeContext, startInspection } from '../src/inspector.js';
import { startSupervisor } from '../src/supervisor.js';

const SECRET_QR = '2@secret-ref,noiseKeyB64,identityB64,ADV-SECRET-KEY-b64';
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('live inspector (INSPECT=ws://…)', () => {
  it('streams actor, event and snapshot messages for a session, with no QR or proxy password in them', async () => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => server.once('listening', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const messages: { type: string; sessionId?: string; event?: { type: string } }[] = [];
    const raw: string[] = [];
    server.on('connection', (socket) =>
      socket.on('message', (data) => {
        raw.push(String(data));
        messages.push(JSON.parse(String(data)));
      }),
    );
    const { port } = server.address() as { port: number };
    const logger = pino({ level: 'silent' });
    const inspection = await startInspection(`ws://127.0.0.1:${port}`, logger);
    cleanups.push(() => inspection.stop());

    const connection = fromCallback<GateGrantedEvent, ConnectionInput>(({ sendBack }) => {
      sendBack({ type: 'client.qr', qr: SECRET_QR });
    });
    const supervisor = startSupervisor({
      logger,
      connection,
      policy: { delaysMs: [0], jitter: 0 },
      maxConcurrentConnects: 5,
      inspect: inspection.inspect,
    });
    cleanups.push(() => supervisor.shutdown());
    supervisor.add('42', { autoReconnect: true, start: true });
    supervisor.command('42', {
      type: 'session.configure',
      proxyUrl: 'socks5://user:pr0xy-pa55@127.0.0.1:1080',
    });

    // Inspection messages name actors by their xstate session id.
    const actorId = supervisor.actor.system.get('session:42')?.sessionId;
    expect(actorId).toBeDefined();
    const deadline = Date.now() + 5_000;
    const seen = () =>
      ['@xstate.actor', '@xstate.event', '@xstate.snapshot'].every((type) =>
        messages.some((m) => m.type === type && m.sessionId === actorId),
      ) && messages.some((m) => m.event?.type === 'client.qr');
    while (!seen() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

    expect(seen()).toBe(true);
    const all = raw.join('\n');
    expect(all).not.toContain('ADV-SECRET-KEY');
    expect(all).not.toContain('pr0xy-pa55');
    expect(all).toContain('user:***@127.0.0.1');

    // What the supervisor and a shard show: counts and ids, no refs, no functions, no inputs.
    const root = sanitizeContext(supervisor.actor.getSnapshot().context as never);
    expect(root).toEqual({ shards: 64, gate: { limit: 5, inFlight: expect.any(Number), waiting: 0 } });
    const shard = supervisor.actor
      .getSnapshot()
      .context.shards.find((s) => Object.keys(s.getSnapshot().context.sessions).length > 0);
    expect(sanitizeContext(shard?.getSnapshot().context as never)).toEqual({ sessions: ['42'] });
  });
});
