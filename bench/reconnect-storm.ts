// Reconnect storm: N connected sessions (the daemon's supervisor and Baileys connector, in this
// process) are all kicked by the simulator (another process) at once. Once with jitter 0.2, once
// with jitter 0. Short RECONNECT_DELAYS (2,4,8,16,32,64 s) stand in for the default 0,30,60,...
// so a round takes seconds. Usage: npm run bench:storm -- --sessions 1000 [--gate 25]
import { parseArgs } from 'node:util';
import type { SessionTransition } from '../machines/transition.js';
import { spawnWaSimProcess } from '../test/support/wa-sim/process.js';
import { log, noiseKeyOf, pairedCreds, percentiles, round, startBaileysFleet } from './fleet.js';

const { values: args } = parseArgs({
  options: {
    sessions: { type: 'string', default: '1000' },
    gate: { type: 'string', default: '25' },
    delays: { type: 'string', default: '2,4,8,16,32,64' },
    deadline: { type: 'string', default: '300' },
    jitters: { type: 'string', default: '0.2,0' },
  },
});
const sessions = Number(args.sessions);
const gate = Number(args.gate);
const delaysMs = args.delays.split(',').map((s) => Number(s) * 1000);
const deadlineMs = Number(args.deadline) * 1000;

interface Round {
  jitter: number;
  connectS: number;
  kickSpreadMs: number;
  allBackS: number | null;
  reconnected: number;
  failed: number;
  maxHandshakesInFlight: number;
  attemptStartS: ReturnType<typeof percentiles>;
  reconnectS: ReturnType<typeof percentiles>;
}

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

async function round1(jitter: number, encoded: string[]): Promise<Round> {
  const sim = await spawnWaSimProcess({ logLevel: 'silent' });
  const status = new Map<string, string>();
  let kickAt = Number.POSITIVE_INFINITY;
  const firstAttempt = new Map<string, number>();
  const reconnectedAt = new Map<string, number>();
  const failed = new Set<string>();
  const onTransition = (t: SessionTransition) => {
    status.set(t.sessionId, t.to);
    if (t.to === 'failed') failed.add(t.sessionId);
    if (t.at < kickAt) return;
    if (t.to === 'connecting' && !firstAttempt.has(t.sessionId)) firstAttempt.set(t.sessionId, t.at - kickAt);
    if (t.to === 'connected' && !reconnectedAt.has(t.sessionId))
      reconnectedAt.set(t.sessionId, t.at - kickAt);
  };
  const { ids, supervisor } = startBaileysFleet({
    encoded,
    url: sim.url,
    rootPublicKeyHex: sim.rootPublicKeyHex,
    policy: { delaysMs, jitter },
    gate,
    onTransition,
  });
  try {
    const connectedCount = () => ids.filter((id) => status.get(id) === 'connected').length;
    const t0 = Date.now();
    for (const id of ids) supervisor.add(id, { autoReconnect: true, start: true });
    if (!(await waitUntil(() => connectedCount() === sessions, deadlineMs))) {
      throw new Error(`only ${connectedCount()}/${sessions} connected before the storm`);
    }
    const connectS = (Date.now() - t0) / 1000;
    log(`jitter ${jitter}: ${sessions} connected in ${round(connectS)} s; kicking all`);
    await new Promise((r) => setTimeout(r, 2_000));
    await sim.control.resetStats();

    kickAt = Date.now();
    const kicked = await Promise.all(
      encoded.map((e) => sim.control.kick({ noiseKey: noiseKeyOf(e) }, 'close')),
    );
    const kickSpreadMs = Date.now() - kickAt;
    if (kicked.some((n) => n !== 1)) throw new Error('some kick hit no connection');
    const allBack = await waitUntil(
      () =>
        reconnectedAt.size === sessions || (failed.size > 0 && reconnectedAt.size + failed.size === sessions),
      deadlineMs,
    );
    const allBackS = allBack && failed.size === 0 ? Math.max(...reconnectedAt.values()) / 1000 : null;
    return {
      jitter,
      connectS: round(connectS),
      kickSpreadMs,
      allBackS: allBackS === null ? null : round(allBackS, 2),
      reconnected: reconnectedAt.size,
      failed: failed.size,
      maxHandshakesInFlight: await sim.control.maxHandshakesInFlight(),
      attemptStartS: scale(percentiles([...firstAttempt.values()])),
      reconnectS: scale(percentiles([...reconnectedAt.values()])),
    };
  } finally {
    supervisor.shutdown();
    await sim.close();
  }
}

function scale(p: ReturnType<typeof percentiles>): ReturnType<typeof percentiles> {
  const s = (ms: number) => round(ms / 1000, 2);
  return { min: s(p.min), p50: s(p.p50), p90: s(p.p90), p99: s(p.p99), max: s(p.max) };
}

const encoded = pairedCreds(sessions);
const rounds: Round[] = [];
for (const jitter of args.jitters.split(',').map(Number)) rounds.push(await round1(jitter, encoded));

console.log(
  `\nreconnect-storm: node ${process.version}, ${sessions} sessions, gate ${gate} (MAX_CONCURRENT_CONNECTS), delays ${args.delays} s\n`,
);
const header = [
  'jitter',
  'all back s',
  'reconnected',
  'failed',
  'max handshakes in flight',
  'first attempt s (min/p50/max)',
  'reconnected s (min/p50/p90/max)',
  'kick spread ms',
];
console.log(`| ${header.join(' | ')} |\n| ${header.map(() => '---').join(' | ')} |`);
for (const r of rounds) {
  console.log(
    `| ${[
      r.jitter,
      r.allBackS ?? '—',
      `${r.reconnected}/${sessions}`,
      r.failed,
      `${r.maxHandshakesInFlight} (limit ${gate})`,
      `${r.attemptStartS.min} / ${r.attemptStartS.p50} / ${r.attemptStartS.max}`,
      `${r.reconnectS.min} / ${r.reconnectS.p50} / ${r.reconnectS.p90} / ${r.reconnectS.max}`,
      r.kickSpreadMs,
    ].join(' | ')} |`,
  );
}
const over = rounds.some((r) => r.maxHandshakesInFlight > gate);
const anyFailed = rounds.some((r) => r.failed > 0);
console.log(
  `\nhandshakes in flight ${over ? 'EXCEEDED' : 'never exceeded'} the gate; ${anyFailed ? 'some sessions ended failed' : '0 sessions failed'}`,
);
if (over || anyFailed) process.exitCode = 1;
process.exit();
