import { afterEach, describe, expect, it } from 'vitest';
import { sessionView } from '../machines/session-view.js';
import { sessionRefs } from '../machines/supervisor.machine.js';
import { type Harness, seedPairedCreds, startHarness } from './support/daemon-harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const statusOf = (id: string) => h?.supervisor.view(id)?.status;

describe('a session over real Baileys against the simulator', () => {
  it('logs in with pre-paired creds and reaches connected', async () => {
    h = await startHarness();
    const key = await seedPairedCreds(h.authStore, '1', '5511900000001');
    h.supervisor.add('1', { autoReconnect: true, start: true });
    await h.supervisor.waitForSession('1', (v) => v.status === 'connected');
    expect(h.sim.loginCount(key)).toBe(1);
    expect(h.sim.registrationCount(key)).toBe(0);
    expect(h.sim.connections()).toMatchObject([{ noiseKey: key, phase: 'open' }]);
  });

  it('backs off after a kick and connects again', async () => {
    h = await startHarness({ delaysMs: [300, 300] });
    const key = await seedPairedCreds(h.authStore, '1', '5511900000002');
    h.supervisor.add('1', { autoReconnect: true, start: true });
    await h.supervisor.waitForSession('1', (v) => v.status === 'connected');

    h.sim.kick({ noiseKey: key }, 'close');
    const backoff = await h.supervisor.waitForSession('1', (v) => v.status === 'backoff');
    expect(backoff).toMatchObject({ attempt: 1, lastError: { code: 428, reason: 'connection_closed' } });
    const again = await h.supervisor.waitForSession('1', (v) => v.status === 'connected');
    expect(again.attempt).toBe(0);
    expect(h.sim.loginCount(key)).toBe(2);
    expect(h.transitions.map((t) => t.to)).toEqual([
      'connecting',
      'connected',
      'backoff',
      'connecting',
      'connected',
    ]);
  });

  it('fails with logged_out on 401 and never dials that key again', async () => {
    h = await startHarness();
    const key = await seedPairedCreds(h.authStore, '1', '5511900000003');
    h.supervisor.add('1', { autoReconnect: true, start: true });
    await h.supervisor.waitForSession('1', (v) => v.status === 'connected');

    h.sim.revoke(key);
    const failed = await h.supervisor.waitForSession('1', (v) => v.status === 'failed');
    expect(failed).toMatchObject({ failureReason: 'logged_out', lastError: { code: 401 } });
    await new Promise((r) => setTimeout(r, 800)); // longer than the whole retry schedule
    expect(h.sim.handshakeCount(key)).toBe(1);
    expect(statusOf('1')).toBe('failed');
  });

  it('fails with replaced on 440 and does not fight for the account', async () => {
    h = await startHarness();
    const key = await seedPairedCreds(h.authStore, '1', '5511900000004');
    h.supervisor.add('1', { autoReconnect: true, start: true });
    await h.supervisor.waitForSession('1', (v) => v.status === 'connected');

    h.sim.kick({ noiseKey: key }, 'replaced');
    const failed = await h.supervisor.waitForSession('1', (v) => v.status === 'failed');
    expect(failed).toMatchObject({ failureReason: 'replaced', lastError: { code: 440 } });
    await new Promise((r) => setTimeout(r, 800));
    expect(h.sim.handshakeCount(key)).toBe(1);
  });

  it('backs off while the server refuses connections, then connects', async () => {
    h = await startHarness({ delaysMs: [0, 150, 150, 150, 150, 150, 150, 150] });
    const key = await seedPairedCreds(h.authStore, '1', '5511900000005');
    h.sim.refuseConnections(600);
    h.supervisor.add('1', { autoReconnect: true, start: true });
    await h.supervisor.waitForSession('1', (v) => v.status === 'backoff');
    const connected = await h.supervisor.waitForSession('1', (v) => v.status === 'connected', 10_000);
    expect(connected.attempt).toBe(0);
    const attempts = h.transitions.filter((t) => t.to === 'backoff').map((t) => t.attempt);
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(attempts).toEqual(attempts.map((_, i) => i + 1));
    expect(h.sim.loginCount(key)).toBe(1);
  });

  it('shows a QR with fresh creds, and after the phone scans it connects with the new creds', async () => {
    h = await startHarness();
    h.supervisor.add('1', { autoReconnect: true, start: true });
    const shown = await h.supervisor.waitForSession('1', (v) => v.status === 'qr');
    expect(shown.status).toBe('qr');
    const qr = h.supervisor.ref('1')?.getSnapshot().context.qr;
    expect(qr).toMatch(/,/);

    const { jid } = await h.sim.pair(qr as string, { phone: '5511900000006' });
    await h.supervisor.waitForSession('1', (v) => v.status === 'connected');
    const { state } = await h.authStore.open('1');
    expect(state.creds.me?.id).toBe(jid);
    const key = Buffer.from(state.creds.noiseKey.public).toString('hex');
    expect(h.sim.registrationCount(key)).toBe(1);
    expect(h.sim.loginCount(key)).toBe(1);
    const restart = h.transitions.find((t) => t.code === 515);
    expect(restart).toMatchObject({ from: 'qr', to: 'connecting', reason: 'restart_required', attempt: 0 });
  });

  it('stops cleanly: the socket closes, the session is idle and nothing dials again', async () => {
    h = await startHarness();
    const key = await seedPairedCreds(h.authStore, '1', '5511900000007');
    h.supervisor.add('1', { autoReconnect: true, start: true });
    await h.supervisor.waitForSession('1', (v) => v.status === 'connected');
    h.supervisor.stop('1');
    expect(statusOf('1')).toBe('idle');
    await h.sim.waitFor(() => h?.sim.connections().length === 0);
    await new Promise((r) => setTimeout(r, 300));
    expect(h.sim.handshakeCount(key)).toBe(1);
  });
});

describe('the supervisor with a fleet', () => {
  it('connects 50 sessions without ever exceeding the connect gate, then stops them all', async () => {
    h = await startHarness({ maxConcurrentConnects: 5, sim: { handshakeDelayMs: 30 } });
    const ids = Array.from({ length: 50 }, (_, i) => String(i + 1));
    for (const id of ids) await seedPairedCreds(h.authStore, id, `55119100${id.padStart(5, '0')}`);
    for (const id of ids) h.supervisor.add(id, { autoReconnect: true, start: true });

    await Promise.all(
      ids.map((id) => h?.supervisor.waitForSession(id, (v) => v.status === 'connected', 60_000)),
    );
    expect(h.sim.connections().filter((c) => c.phase === 'open')).toHaveLength(50);
    // The simulator counts sockets that have not yet finished their handshake.
    expect(h.sim.maxHandshakesInFlight()).toBeLessThanOrEqual(5);
    expect(h.sim.maxHandshakesInFlight()).toBeGreaterThanOrEqual(2);
    expect(h.supervisor.actor.getSnapshot().context.gate.maxInFlight).toBe(5);

    // The view table the API reads agrees with the actors, through stops and removals.
    const sup = h.supervisor;
    const agrees = () => {
      const actors = sessionRefs(sup.actor.getSnapshot()).map((r) => sessionView(r.getSnapshot()));
      expect(sup.list()).toEqual(expect.arrayContaining(actors));
      expect(sup.list()).toHaveLength(actors.length);
    };
    expect(sup.counts()).toEqual({ idle: 0, connecting: 0, qr: 0, connected: 50, backoff: 0, failed: 0 });
    agrees();
    const before = sup.viewsVersion();
    for (const id of ids.slice(0, 10)) sup.stop(id);
    expect(sup.viewsVersion()).toBeGreaterThan(before);
    expect(sup.counts()).toMatchObject({ connected: 40, idle: 10 });
    for (const id of ids.slice(0, 5)) sup.remove(id);
    expect(sup.counts()).toMatchObject({ connected: 40, idle: 5 });
    expect(sup.view('1')).toBeUndefined();
    expect(sup.view('6')).toMatchObject({ sessionId: '6', status: 'idle' });
    agrees();

    h.supervisor.shutdown();
    await h.sim.waitFor(() => h?.sim.connections().length === 0, 10_000);
  }, 90_000);
});
