// API under load: the daemon (`src/main.ts`, its own process) with N connected sessions (the
// simulator in a third process); a fourth process GETs /sessions/status/ at a fixed rate, then
// /healthz at the same rate as the same-run baseline. Database: a fresh database on the
// TEST_DATABASE_URL server (required: a served in-memory PGlite takes one connection). Usage: npm run bench:api -- --sessions 1000 [--rate 200] [--churn 20] [--daemon dist|tsx] [--cpu-prof dir]
import { fork, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { signToken } from '../src/http/token.js';
import { seedPairedSessions, spawnDaemon } from '../test/support/daemon-process.js';
import { freePort } from '../test/support/free-port.js';
import { createTestDatabase } from '../test/support/test-database.js';
import { spawnWaSimProcess } from '../test/support/wa-sim/process.js';
import type { LoadRequest, LoadResult } from './api-load-client.js';
import { log, percentiles, round } from './fleet.js';

const { values: args } = parseArgs({
  options: {
    sessions: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '20' },
    deadline: { type: 'string', default: '600' },
    // sessions kicked per second by the simulator during each phase: each kick changes a session's
    // view three or four times, so status/ rebuilds its body (0: a steady fleet)
    churn: { type: 'string', default: '0' },
    // dist: `npm run build`, then the compiled daemon, as the image runs it; tsx: `npm start`'s way
    // (source-mapped stack traces, which Baileys' many errors make costly)
    daemon: { type: 'string', default: 'dist' },
    // a folder: the daemon writes a V8 CPU profile there when it exits
    'cpu-prof': { type: 'string' },
  },
});
const sessions = Number(args.sessions);
const rate = Number(args.rate);
const count = rate * Number(args.seconds);

function load(req: LoadRequest): Promise<LoadResult> {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const child = fork(fileURLToPath(new URL('./api-load-client.ts', import.meta.url)), [], {
    execArgv: ['--import', tsx],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (msg: { ok: true; result: LoadResult } | { ok: false; error: string }) =>
      msg.ok ? resolve(msg.result) : reject(new Error(msg.error)),
    );
    child.once('exit', (code) => reject(new Error(`load generator exited ${code}`)));
    child.send(req);
  });
}

/** user + system CPU of a process, in ms (Linux /proc; clock ticks of 10 ms). */
function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function daemonLoopLag(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('nodejs_eventloop_lag_max_seconds '));
  return line ? Number(line.split(' ')[1]) * 1000 : Number.NaN;
}

if (!process.env.TEST_DATABASE_URL) {
  log('api-load needs TEST_DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/test');
  process.exit(2);
}
const database = await createTestDatabase('bench-api-load');
const sim = await spawnWaSimProcess({ logLevel: 'silent' });
const dataDir = await mkdtemp(join(tmpdir(), 'wa-bench-api-'));
const port = await freePort();
const secret = randomBytes(24).toString('hex');
const env: NodeJS.ProcessEnv = {
  NODE_ENV: 'development',
  DATABASE_URL: database.url,
  DATA_DIR: dataDir,
  PORT: String(port),
  HOST: '127.0.0.1',
  JWT_SECRET: secret,
  WA_WS_URL: sim.url,
  WA_NOISE_ROOT_PUBLIC_KEY: sim.rootPublicKeyHex,
  SESSION_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  LOG_LEVEL: 'warn',
};
let daemon: ReturnType<typeof spawnDaemon> | undefined;
try {
  const t0 = Date.now();
  const fleet = await seedPairedSessions({ databaseUrl: database.url, dataDir, env, count: sessions });
  log(
    `seeded ${sessions} paired sessions in ${round((Date.now() - t0) / 1000)} s (${database.embedded ? 'PGlite' : 'PostgreSQL server'})`,
  );
  const compiled = args.daemon === 'dist';
  if (compiled) {
    const build = spawnSync('npm', ['run', 'build'], { encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}\n${build.stderr}`);
  }
  daemon = spawnDaemon(env, {
    compiled,
    nodeArgs: args['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${args['cpu-prof']}`] : [],
  });
  const keys = new Set(fleet.map((s) => s.noiseKey));
  const t1 = Date.now();
  await sim.control.waitFor(
    async () =>
      (await sim.control.connections()).filter((c) => c.phase === 'open' && keys.has(c.noiseKey)).length ===
      sessions,
    Number(args.deadline) * 1000,
  );
  log(
    `${sessions} connected in ${round((Date.now() - t1) / 1000)} s; loading at ${rate} req/s for ${args.seconds} s each`,
  );
  await new Promise((r) => setTimeout(r, 3_000));

  const token = signToken(secret, { user: 1 });
  const base = `http://127.0.0.1:${port}`;
  // Service time first: one request at a time, nothing queued.
  const serial: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t = performance.now();
    const res = await fetch(`${base}/api/v1/whatsapp/sessions/status/`, {
      headers: { authorization: `Bearer ${token}` },
    });
    await res.arrayBuffer();
    serial.push(performance.now() - t);
  }
  const serialP = percentiles(serial);
  log(`status/ one at a time: p50 ${round(serialP.p50)} ms, max ${round(serialP.max)} ms`);
  const pid = daemon.child.pid as number;
  // The daemon's own figures for one phase: CPU from /proc, the largest event-loop lag from its
  // /metrics (prom-client resets that histogram at every scrape, so one scrape before each phase).
  const churn = Number(args.churn);
  let kicks = 0;
  const phase = async (run: () => Promise<LoadResult>) => {
    await daemonLoopLag(base);
    const cpu0 = processCpuMs(pid);
    // The same churn in both phases, so the baseline pays for the reconnects too.
    const kicker =
      churn > 0
        ? setInterval(() => {
            for (let i = 0; i < churn / 10; i++) {
              const s = fleet[Math.floor(Math.random() * fleet.length)];
              if (s) void sim.control.kick({ noiseKey: s.noiseKey }, 'close').then(() => kicks++);
            }
          }, 100)
        : undefined;
    const result = await run().finally(() => clearInterval(kicker));
    const cpuMs = processCpuMs(pid) - cpu0;
    return { result, cpuMs, loopLagMaxMs: await daemonLoopLag(base) };
  };
  // The baseline first: a saturated status/ run leaves a backlog the server still works through.
  const health = await phase(() => load({ url: `${base}/healthz`, rate, count, timeoutMs: 10_000 }));
  const status = await phase(() =>
    load({ url: `${base}/api/v1/whatsapp/sessions/status/`, token, rate, count, timeoutMs: 10_000 }),
  );

  console.log(
    `\napi-load: node ${process.version}, ${sessions} connected sessions, ${rate} req/s × ${args.seconds} s per route (${count} requests), ${database.embedded ? 'PGlite' : 'PostgreSQL server'}, ${kicks} sessions kicked over both phases (--churn ${churn}/s), daemon from ${args.daemon}\n`,
  );
  console.log(
    '| route | requests | statuses | errors | achieved req/s | p50 ms | p99 ms | max ms | daemon CPU ms/request | daemon loop lag max ms |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const [name, { result: r, cpuMs, loopLagMaxMs }] of [
    ['GET /api/v1/whatsapp/sessions/status/', status],
    ['GET /healthz (baseline)', health],
  ] as const) {
    const p = percentiles(r.latenciesMs);
    console.log(
      `| ${name} | ${count} | ${JSON.stringify(r.statuses)} | ${r.errors} | ${round((count * 1000) / r.elapsedMs)} | ${round(p.p50)} | ${round(p.p99)} | ${round(p.max)} | ${round(cpuMs / count)} | ${round(loopLagMaxMs)} |`,
    );
  }
  console.log(
    `\nstatus/ one request at a time (service time): p50 ${round(serialP.p50)} ms, p99 ${round(serialP.p99)} ms`,
  );
  const p99 = percentiles(status.result.latenciesMs).p99;
  console.log(`\ntarget p99 ≤ 20 ms: ${p99 <= 20 ? 'met' : 'MISSED'} (${round(p99)} ms)`);
} finally {
  if (daemon && daemon.child.exitCode === null) {
    daemon.child.kill('SIGTERM');
    await daemon.exited;
  }
  await sim.close();
  await database.drop();
  await rm(dataDir, { recursive: true, force: true });
}
process.exit();
