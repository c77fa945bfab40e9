// The supervisor's own bookkeeping as the fleet grows: N idle sessions added, then a shutdown,
// against the same N session actors started on their own (no parent) in the same run. No sockets:
// the connection actor is never started (sessions stay idle), so this is the statecharts alone.
// Usage: npm run bench:supervisor [-- --sizes 1000,2000,4000]
import { parseArgs } from 'node:util';
import { createActor } from 'xstate';
import { DEFAULT_RECONNECT_POLICY } from '../machines/reconnect-policy.js';
import { sessionMachine } from '../machines/session.machine.js';
import { supervisorMachine } from '../machines/supervisor.machine.js';
import { round } from './fleet.js';

const { values: args } = parseArgs({
  options: { sizes: { type: 'string', default: '1000,2000,4000' } },
});
const sizes = args.sizes.split(',').map(Number);

const time = (work: () => void): number => {
  const t = performance.now();
  work();
  return performance.now() - t;
};

function standalone(n: number): { addMs: number; stopMs: number } {
  const actors: ReturnType<typeof createActor<typeof sessionMachine>>[] = [];
  const addMs = time(() => {
    for (let i = 0; i < n; i++) {
      const actor = createActor(sessionMachine, {
        input: { sessionId: String(i), autoReconnect: true, policy: DEFAULT_RECONNECT_POLICY },
      });
      actor.start();
      actors.push(actor);
    }
  });
  const stopMs = time(() => {
    for (const actor of actors) actor.stop();
  });
  return { addMs, stopMs };
}

function supervised(n: number): { addMs: number; stopMs: number } {
  const supervisor = createActor(supervisorMachine, {
    systemId: 'supervisor',
    input: { maxConcurrentConnects: 25, policy: DEFAULT_RECONNECT_POLICY },
  });
  supervisor.start();
  const addMs = time(() => {
    for (let i = 0; i < n; i++)
      supervisor.send({ type: 'supervisor.add', sessionId: String(i), autoReconnect: true });
  });
  const stopMs = time(() => supervisor.send({ type: 'supervisor.shutdown' }));
  if (supervisor.getSnapshot().status !== 'done') throw new Error('supervisor did not stop');
  return { addMs, stopMs };
}

console.log(`\nsupervisor-scale: node ${process.version}, idle sessions (no sockets)\n`);
console.log(
  '| sessions | standalone add ms | supervisor add ms | ratio | standalone stop ms | supervisor stop ms | ratio |\n| --- | --- | --- | --- | --- | --- | --- |',
);
for (const n of sizes) {
  standalone(Math.min(n, 200)); // warm-up
  const a = standalone(n);
  const b = supervised(n);
  console.log(
    `| ${n} | ${round(a.addMs)} | ${round(b.addMs)} | ${round(b.addMs / a.addMs)}× | ${round(a.stopMs)} | ${round(b.stopMs)} | ${round(b.stopMs / a.stopMs)}× |`,
  );
}
