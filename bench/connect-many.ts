// N pre-paired sessions log in against the simulator in another process, once through the daemon's
// supervisor and once as bare Baileys sockets; each variant runs in a fresh child process.
// Usage: npm run bench -- --sessions 1000 [--variants supervisor,bare] (see bench/README.md)
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { initAuthCreds } from '@whiskeysockets/baileys';
import type { LevelWithSilent } from 'pino';
import { encodeAuthValue } from '../src/whatsapp/auth-store.js';
import { spawnWaSimProcess } from '../test/support/wa-sim/process.js';
import type { VariantRequest, VariantResult } from './connect-many-child.js';

const { values: args } = parseArgs({
  options: {
    sessions: { type: 'string', default: process.env.SESSIONS ?? '200' },
    variants: { type: 'string', default: process.env.VARIANTS ?? 'supervisor,bare' },
    deadline: { type: 'string', default: '120' },
    settle: { type: 'string', default: '5' },
    gate: { type: 'string', default: '25' },
    'log-level': { type: 'string', default: 'silent' },
    // off: as the compiled daemon runs (node dist/src/main.js); tsx turns them on, and every
    // Error's stack (Baileys makes many) then costs a source-map lookup
    'source-maps': { type: 'string', default: 'off' },
    json: { type: 'boolean', default: false },
  },
});

const sessions = positiveInt('sessions', args.sessions);
const deadlineMs = positiveInt('deadline', args.deadline) * 1000;
const settleMs = Number(args.settle) * 1000;
const gate = positiveInt('gate', args.gate);
const variants = args.variants.split(',').filter(Boolean);
const childTimeoutMs = deadlineMs + settleMs + 60_000;

function positiveInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${value}`);
  return n;
}

/** Paired-looking creds (`creds.me` set), cached in the temp dir: ~20 ms of key generation each. */
function credsFile(count: number): string {
  const file = join(tmpdir(), `wa-supervisor-bench-creds-${count}.json`);
  if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as unknown[]).length === count) return file;
  const t0 = performance.now();
  const encoded = Array.from({ length: count }, (_, i) => {
    const creds = initAuthCreds();
    creds.me = { id: `5511${String(9_0000_0000 + i)}:1@s.whatsapp.net`, name: `bench ${i}` };
    return encodeAuthValue(creds);
  });
  writeFileSync(file, JSON.stringify(encoded));
  log(`generated ${count} creds in ${Math.round(performance.now() - t0)} ms → ${file}`);
  return file;
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function runVariant(variant: string, file: string): Promise<VariantResult> {
  const sim = await spawnWaSimProcess({ logLevel: 'silent' });
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const child: ChildProcess = fork(fileURLToPath(new URL('./connect-many-child.ts', import.meta.url)), [], {
    // BENCH_NODE_ARGS: extra node flags for the variant process, e.g. `--cpu-prof --cpu-prof-dir=prof`.
    execArgv: [
      '--expose-gc',
      '--max-old-space-size=8192',
      ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      '--import',
      tsx,
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const request: VariantRequest = {
      variant,
      sessions,
      url: sim.url,
      rootPublicKeyHex: sim.rootPublicKeyHex,
      credsFile: file,
      deadlineMs,
      settleMs,
      gate,
      logLevel: args['log-level'] as LevelWithSilent,
      sourceMaps: args['source-maps'] !== 'off',
    };
    return await new Promise<VariantResult>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${variant}: no answer in ${childTimeoutMs} ms`)),
        childTimeoutMs,
      );
      child.once('message', (msg: { ok: true; result: VariantResult } | { ok: false; error: string }) => {
        clearTimeout(timer);
        if (msg.ok) resolve(msg.result);
        else reject(new Error(`${variant}: ${msg.error}`));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${variant}: child exited (${code ?? signal}) without an answer`));
      });
      child.send(request);
    });
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      // It exits by itself after answering (writing a --cpu-prof on the way); a hung one is killed.
      const exited = new Promise((resolve) => child.once('exit', resolve));
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(kill);
    }
    await sim.close();
  }
}

const seconds = (ms: number | null) => (ms === null ? '—' : (ms / 1000).toFixed(2));
const ratio = (a: number | null, b: number | null) =>
  a === null || b === null || b === 0 ? '—' : (a / b).toFixed(2);

function table(results: VariantResult[]): string {
  const header = [
    'variant',
    'sessions',
    'opened',
    'failures',
    'wall s',
    'p50 s',
    'p90 s',
    'cpu s',
    'loop p99 ms',
    'loop max ms',
    'load',
    'RSS KB/session',
    'heap KB/session',
    'stop ms',
  ];
  const rows = results.map((r) => [
    r.variant,
    String(r.sessions),
    String(r.opened),
    String(r.failures),
    seconds(r.wallMs),
    seconds(r.openMs?.p50 ?? null),
    seconds(r.openMs?.p90 ?? null),
    seconds(r.cpuMs),
    String(r.loopDelayMs.p99),
    String(r.loopDelayMs.max),
    r.loadAverage.map((l) => l.toFixed(1)).join('→'),
    String(r.rssPerSessionKB),
    String(r.heapPerSessionKB),
    String(r.stopMs),
  ]);
  const lines = [header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`);
  // With a variant listed more than once (interleaved runs, to see the noise), ratios use medians.
  const median = (name: string, pick: (r: VariantResult) => number | null): number | null => {
    const xs = results
      .filter((r) => r.variant === name)
      .map(pick)
      .filter((x): x is number => x !== null)
      .sort((a, b) => a - b);
    if (xs.length === 0) return null;
    const mid = xs.length / 2;
    return xs.length % 2
      ? (xs[Math.floor(mid)] as number)
      : ((xs[mid - 1] as number) + (xs[mid] as number)) / 2;
  };
  const runs = (name: string) => results.filter((r) => r.variant === name).length;
  const bares = [...new Set(results.map((r) => r.variant))].filter((v) => v.startsWith('bare'));
  if (runs('supervisor') > 0) {
    for (const bare of bares) {
      const of = (pick: (r: VariantResult) => number | null) =>
        ratio(median('supervisor', pick), median(bare, pick));
      const medianNote = runs('supervisor') > 1 || runs(bare) > 1 ? ' (medians)' : '';
      lines.push(
        '',
        `supervisor / ${bare}${medianNote}: wall ${of((r) => r.wallMs)}×, RSS/session ${of((r) => r.rssPerSessionKB)}×, heap/session ${of((r) => r.heapPerSessionKB)}×, cpu ${of((r) => r.cpuMs)}×`,
      );
    }
  }
  return lines.join('\n');
}

const file = credsFile(sessions);
const results: VariantResult[] = [];
for (const variant of variants) {
  log(`${variant}: ${sessions} sessions, gate ${gate}, deadline ${deadlineMs / 1000} s`);
  try {
    const result = await runVariant(variant, file);
    results.push(result);
    log(
      `${variant}: ${result.opened}/${sessions} open, wall ${seconds(result.wallMs)} s, ` +
        `RSS ${result.rssPerSessionKB} KB/session, heap ${result.heapPerSessionKB} KB/session` +
        (result.gcExposed ? '' : ' (no --expose-gc: figures include garbage)'),
    );
  } catch (err) {
    log(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  }
}

console.log(
  `\nconnect-many: node ${process.version}, ${sessions} sessions, gate ${gate}, deadline ${deadlineMs / 1000} s, ` +
    `settle ${settleMs / 1000} s, log level ${args['log-level']}, source maps ${args['source-maps']}\n`,
);
console.log(table(results));
if (args.json) console.log(`\n${JSON.stringify(results, null, 2)}`);
