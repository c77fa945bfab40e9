import { pino } from 'pino';
import type { ChildReply, ChildRequest } from './process.js';
import { startWaSim, type WaSim } from './sim.js';

let sim: WaSim | undefined;

const reply = (msg: ChildReply): void => {
  process.send?.(msg);
};

const shutdown = async (): Promise<void> => {
  await sim?.close();
  sim = undefined;
};

process.on('message', async (req: ChildRequest) => {
  try {
    let result: unknown;
    if (req.method === 'start') {
      const { logLevel = 'silent', ...opts } = req.args[0];
      sim = await startWaSim({ ...opts, logger: pino({ level: logLevel }, pino.destination(2)) });
      result = { url: sim.url, rootPublicKeyHex: sim.rootPublicKeyHex };
    } else if (req.method === 'close') {
      await shutdown();
    } else {
      if (!sim) throw new Error('wa-sim child not started');
      const fn = sim[req.method] as (...args: unknown[]) => unknown;
      result = await fn(...req.args);
    }
    reply({ id: req.id, ok: true, result });
    if (req.method === 'close') process.disconnect();
  } catch (err) {
    reply({ id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) });
  }
});

// parent gone: do not linger
process.on('disconnect', () => {
  void shutdown().finally(() => process.exit(0));
});

reply({ id: 0, ok: true, result: 'ready' });
