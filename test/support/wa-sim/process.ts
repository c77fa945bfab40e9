import { type ChildProcess, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Level } from 'pino';
import { type WaSim, type WaSimOptions, waitFor } from './sim.js';

export type WaSimProcessOptions = Omit<WaSimOptions, 'logger'> & { logLevel?: Level | 'silent' };

type ControlMethod =
  | 'connections'
  | 'kick'
  | 'refuseConnections'
  | 'handshakeCount'
  | 'loginCount'
  | 'registrationCount'
  | 'handshakesInFlight'
  | 'maxHandshakesInFlight'
  | 'resetStats'
  | 'revoke'
  | 'pair';

type Remote<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
};

export type WaSimControl = Remote<Pick<WaSim, ControlMethod>> & {
  /** polls an (async) predicate, e.g. one that calls other control methods */
  waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs?: number): Promise<void>;
};

export interface WaSimProcess {
  url: string;
  rootPublicKeyHex: string;
  pid: number;
  control: WaSimControl;
  close(): Promise<void>;
}

export type ChildRequest =
  | { id: number; method: 'start'; args: [WaSimProcessOptions] }
  | { id: number; method: 'close'; args: [] }
  | { id: number; method: ControlMethod; args: unknown[] };

export type ChildReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

const CONTROL_METHODS: ControlMethod[] = [
  'connections',
  'kick',
  'refuseConnections',
  'handshakeCount',
  'loginCount',
  'registrationCount',
  'handshakesInFlight',
  'maxHandshakesInFlight',
  'resetStats',
  'revoke',
  'pair',
];

/** Runs the simulator in a child process (tsx), controlled over IPC. */
export async function spawnWaSimProcess(opts: WaSimProcessOptions = {}): Promise<WaSimProcess> {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const child: ChildProcess = fork(fileURLToPath(new URL('./child.ts', import.meta.url)), [], {
    execArgv: ['--import', tsx],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let nextId = 1;
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      for (const p of pending.values()) p.reject(new Error(`wa-sim child exited (${code ?? signal})`));
      pending.clear();
      resolve();
    });
  });
  child.on('message', (msg: ChildReply) => {
    const p = pending.get(msg.id);
    pending.delete(msg.id);
    if (!p) return;
    if (msg.ok) p.resolve(msg.result);
    else p.reject(new Error(msg.error));
  });

  const call = (method: ChildRequest['method'], args: unknown[]): Promise<unknown> =>
    new Promise((resolve, reject) => {
      if (exited || !child.connected) {
        reject(new Error('wa-sim child is not running'));
        return;
      }
      const id = nextId++;
      pending.set(id, { resolve, reject });
      child.send({ id, method, args });
    });

  // id 0 is the child's "listening" message
  await new Promise<void>((resolve, reject) => {
    pending.set(0, { resolve: () => resolve(), reject });
  });
  const started = (await call('start', [opts])) as { url: string; rootPublicKeyHex: string };

  const control = Object.fromEntries(
    CONTROL_METHODS.map((m) => [m, (...args: unknown[]) => call(m, args)]),
  ) as unknown as WaSimControl;
  control.waitFor = (predicate, timeoutMs) => waitFor(predicate, timeoutMs);

  return {
    ...started,
    pid: child.pid ?? -1,
    control,
    async close() {
      if (exited) return;
      await call('close', []).catch(() => undefined);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(timer);
    },
  };
}
