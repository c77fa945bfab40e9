import { describe, expect, it } from 'vitest';
import { sessionView } from '../machines/session-view.js';
import { observeSessionTransitions } from '../machines/transition.js';
import { createMetrics } from '../src/metrics.js';
import { scriptedSession } from './support/fake-connection.js';
import { parsePrometheus as parse } from './support/prometheus.js';

describe('Prometheus metrics', () => {
  it('move with a scripted drop, two failed attempts and a recovery', async () => {
    let opens = true;
    let metrics: ReturnType<typeof createMetrics> | undefined;
    const s = scriptedSession({
      inspect: observeSessionTransitions((t) => metrics?.observe(t)),
      behaviour: (_n, send) => send(opens ? { type: 'client.open' } : { type: 'client.closed', code: 503 }),
    });
    metrics = createMetrics(
      { list: () => [sessionView(s.actor.getSnapshot())], gateInFlight: () => 3 },
      { perSession: true, defaultMetrics: false, now: () => s.clock.now() },
    );

    s.actor.send({ type: 'session.start' });
    let m = parse(await metrics.render());
    expect(m.get('wa_sessions{state="connected"}')).toBe(1);
    expect(m.get('wa_sessions{state="backoff"}')).toBe(0);
    expect(m.get('wa_connect_gate_in_flight')).toBe(3);
    expect(m.get('wa_connect_duration_seconds_count')).toBe(1);

    opens = false;
    s.current.send({ type: 'client.closed', code: 428 });
    s.advance(30_000); // attempts 1 and 2 fail with 503; attempt 3 waits
    m = parse(await metrics.render());
    expect(m.get('wa_sessions{state="backoff"}')).toBe(1);
    expect(m.get('wa_sessions{state="connected"}')).toBe(0);
    expect(m.get('wa_disconnects_total{reason="connection_closed",code="428"}')).toBe(1);
    expect(m.get('wa_disconnects_total{reason="unavailable",code="503"}')).toBe(2);
    expect(m.get('wa_reconnect_attempts_total{outcome="started"}')).toBe(2);
    expect(m.get('wa_reconnect_attempts_total{outcome="failed"}')).toBe(2);
    expect(m.get('wa_session_transitions_total{from="connected",to="backoff"}')).toBe(1);
    expect(m.get('wa_session_transitions_total{from="connecting",to="backoff"}')).toBe(2);
    expect(m.has('wa_session_connected_seconds{session_id="1"}')).toBe(false);

    opens = true;
    s.advance(60_000);
    s.advance(5_000);
    m = parse(await metrics.render());
    expect(m.get('wa_sessions{state="connected"}')).toBe(1);
    expect(m.get('wa_reconnect_attempts_total{outcome="succeeded"}')).toBe(1);
    expect(m.get('wa_connect_duration_seconds_count')).toBe(2);
    expect(m.get('wa_session_connected_seconds{session_id="1"}')).toBe(5);
  });

  it('keeps per-session series off unless asked', async () => {
    const s = scriptedSession({ behaviour: (_n, send) => send({ type: 'client.open' }) });
    s.actor.send({ type: 'session.start' });
    const metrics = createMetrics({
      list: () => [sessionView(s.actor.getSnapshot())],
      gateInFlight: () => 0,
    });
    const text = await metrics.render();
    expect(text).not.toContain('wa_session_connected_seconds');
    expect(text).toContain('process_cpu_user_seconds_total');
  });
});
