// The load generator of api-load.ts, in its own process: an open loop of GETs at a fixed rate
// (each request leaves at its scheduled time, whether or not earlier ones answered), loopback only.
// node:http with a keep-alive agent: fetch's WHATWG streams cost this process about as much CPU as
// the server spends, on a machine where both share two cores. Answers over IPC with every latency in ms.
import { Agent, request } from 'node:http';

export interface LoadRequest {
  url: string;
  token?: string;
  rate: number;
  count: number;
  timeoutMs: number;
}

export interface LoadResult {
  latenciesMs: number[];
  statuses: Record<string, number>;
  errors: number;
  elapsedMs: number;
}

async function run(req: LoadRequest): Promise<LoadResult> {
  if (!/^http:\/\/127\.0\.0\.1:\d+\//.test(req.url)) throw new Error('loopback URLs only');
  const latenciesMs: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  const headers: Record<string, string> = req.token ? { authorization: `Bearer ${req.token}` } : {};
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const get = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const call = request(req.url, { headers, agent, timeout: req.timeoutMs }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      });
      call.on('timeout', () => call.destroy(new Error('timeout')));
      call.on('error', reject);
      call.end();
    });
  const start = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < req.count; i++) {
    const due = start + (i * 1000) / req.rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const sent = performance.now();
    inflight.push(
      get()
        .then((status) => {
          latenciesMs.push(performance.now() - sent);
          statuses[status] = (statuses[status] ?? 0) + 1;
        })
        .catch(() => {
          errors++;
        }),
    );
  }
  await Promise.all(inflight);
  const elapsedMs = performance.now() - start;
  agent.destroy();
  return { latenciesMs, statuses, errors, elapsedMs };
}

process.once('message', (req: LoadRequest) => {
  run(req).then(
    (result) => process.send?.({ ok: true, result }, () => process.exit(0)),
    (err: unknown) => process.send?.({ ok: false, error: String(err) }, () => process.exit(1)),
  );
});
