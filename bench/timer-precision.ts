// Timer precision: N sessions in backoff under the real supervisor and session machines; how late
// each attempt starts compared with its schedule (the backoff transition's time + its delay).
// The connection is a stand-in that fails at once (code 428), so every session walks its whole
// schedule and nothing but the timers and the machines costs time. Baseline in the same run: as
// many bare setTimeout chains with the same delays. Usage: npm run bench:timers -- --sessions 1000
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { fromCallback } from 'xstate';
import type { ReconnectPolicy } from '../machines/reconnect-policy.js';
import { retryDelayMs } from '../machines/reconnect-policy.js';
import { startSupervisor } from '../src/supervisor.js';
import { log, percentiles, round } from './fleet.js';

const { values: args } = parseArgs({
  options: {
    sessions: { type: 'string', default: '1000' },
    delays: { type: 'string', default: '0,2,3,3,4' },
    jitter: { type: 'string', default: '0.2' },
    gate: { type: 'string', default: '25' },
  },
});
const sessions = Number(args.sessions);
const policy: ReconnectPolicy = {
  delaysMs: args.delays.split(',').map((s) => Number(s) * 1000),
  jitter: Number(args.jitter),
};
const total = policy.delaysMs.reduce((a, b) => a + b, 0);

async function supervised(): Promise<{ lateness: number[]; loopMaxMs: number; failed: number }> {
  const scheduled = new Map<string, number>();
  const lateness: number[] = [];
  const failed = new Set<string>();
  const connection = fromCallback<{ type: string }, { sessionId: string; attempt: number }>(
    ({ input, sendBack }) => {
      const due = scheduled.get(input.sessionId);
      if (due !== undefined) {
        lateness.push(Date.now() - due);
        scheduled.delete(input.sessionId);
      }
      const fail = setImmediate(() => sendBack({ type: 'client.closed', code: 428, message: 'stand-in' }));
      return () => clearImmediate(fail);
    },
  );
  const supervisor = startSupervisor({
    logger: pino({ level: 'silent' }),
    connection,
    policy,
    maxConcurrentConnects: Number(args.gate),
    onTransition: (t) => {
      if (t.to === 'backoff' && t.delayMs) scheduled.set(t.sessionId, t.at + t.delayMs);
      if (t.to === 'failed') failed.add(t.sessionId);
    },
  });
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  for (let i = 0; i < sessions; i++) supervisor.add(`s${i}`, { autoReconnect: true, start: true });
  const until = Date.now() + total * 1.5 + 60_000;
  while (failed.size < sessions && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  loop.disable();
  supervisor.shutdown();
  return { lateness, loopMaxMs: round(loop.max / 1e6), failed: failed.size };
}

async function bare(): Promise<number[]> {
  const lateness: number[] = [];
  await Promise.all(
    Array.from(
      { length: sessions },
      () =>
        new Promise<void>((resolve) => {
          const step = (attempt: number) => {
            if (attempt > policy.delaysMs.length) return resolve();
            const delay = retryDelayMs(policy, attempt, Math.random);
            if (delay === 0) return step(attempt + 1);
            const due = Date.now() + delay;
            setTimeout(() => {
              lateness.push(Date.now() - due);
              step(attempt + 1);
            }, delay);
          };
          step(1);
        }),
    ),
  );
  return lateness;
}

log(`timer-precision: ${sessions} sessions, delays ${args.delays} s, jitter ${args.jitter}`);
const sup = await supervised();
const base = await bare();
const row = (name: string, values: number[], extra: string) => {
  const p = percentiles(values);
  return `| ${name} | ${values.length} | ${p.p50} | ${p.p99} | ${p.max} | ${extra} |`;
};
console.log(
  `\ntimer-precision: node ${process.version}, ${sessions} sessions in backoff, delays ${args.delays} s, jitter ${args.jitter}, stand-in connection failing at once\n`,
);
console.log(
  '| timers | attempts | late p50 ms | late p99 ms | late max ms | notes |\n| --- | --- | --- | --- | --- | --- |',
);
console.log(
  row(
    'supervisor (session machines)',
    sup.lateness,
    `${sup.failed}/${sessions} reached failed; loop max ${sup.loopMaxMs} ms`,
  ),
);
console.log(row('bare setTimeout (baseline)', base, 'same delays and jitter'));
const p99 = percentiles(sup.lateness).p99;
console.log(`\ntarget p99 ≤ 50 ms: ${p99 <= 50 ? 'met' : 'MISSED'} (${p99} ms)`);
process.exit();
