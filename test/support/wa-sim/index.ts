export type { WaSimControl, WaSimProcess, WaSimProcessOptions } from './process.js';
export { spawnWaSimProcess } from './process.js';
export type {
  ConnectionInfo,
  ConnectionKind,
  ConnectionPhase,
  KickMode,
  KickTarget,
  PairOptions,
  WaSim,
  WaSimOptions,
} from './sim.js';
export { startWaSim, waitFor } from './sim.js';
