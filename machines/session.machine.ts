import { assign, fromCallback, raise, setup } from 'xstate';
import type { ConnectionEvent, ConnectionInput, GateGrantedEvent } from './connection-protocol.js';
import {
  classifyDisconnect,
  DEFAULT_RECONNECT_POLICY,
  exhaustedReason,
  type ReconnectPolicy,
  retryDelayMs,
} from './reconnect-policy.js';

export interface SessionInput {
  sessionId: string;
  autoReconnect: boolean;
  policy: ReconnectPolicy;
  /** Draws in [0, 1) for jitter. Default Math.random. */
  random?: () => number;
  /** The clock timestamps are read from (ms since epoch). Default Date.now; tests pass the simulated clock's. */
  now?: () => number;
  /** Give up on a handshake that neither opens nor shows a QR within this long. Default 90 s. */
  connectTimeoutMs?: number;
}

export interface LastError {
  code: number;
  reason: string;
  message: string;
  /** ms since epoch */
  at: number;
}

export interface SessionContext {
  sessionId: string;
  autoReconnect: boolean;
  policy: ReconnectPolicy;
  random: () => number;
  now: () => number;
  connectTimeoutMs: number;
  /** Reconnect attempts used in the current episode; 0 while connected. */
  attempt: number;
  maxAttempts: number;
  /** Delay of the pending retry (ms). */
  retryDelayMs: number | null;
  /** When the pending retry fires (ms since epoch), while in backoff. */
  nextRetryAt: number | null;
  lastError: LastError | null;
  failureReason: string | null;
  /** Tags every transition of an episode started by `session.reconnect`. */
  taskId: string | null;
  qr: string | null;
  /** When the shown QR expires (ms since epoch), if the connection said so. */
  qrExpiresAt: number | null;
  /** Attempts the last successful connection needed (logged as "reconnected after n attempts"). */
  openedAfterAttempts: number;
  connectedAt: number | null;
}

export type SessionCommand =
  | { type: 'session.start' }
  | { type: 'session.stop' }
  | { type: 'session.reconnect'; taskId?: string }
  | { type: 'session.configure'; autoReconnect?: boolean; proxyUrl?: string | null }
  | SessionRestore;

/**
 * Puts an idle actor back where a previous daemon left the session: `backoff` resumes the schedule
 * at `attempt` with what is left of its delay; `failed` stays failed.
 */
export type SessionRestore =
  | {
      type: 'session.restore';
      status: 'backoff';
      attempt: number;
      retryInMs: number;
      lastError: LastError | null;
    }
  | { type: 'session.restore'; status: 'failed'; failureReason: string; lastError: LastError | null };

export type SessionEvent = SessionCommand | ConnectionEvent;

const DEFAULT_CONNECT_TIMEOUT_MS = 90_000;

export const sessionMachine = setup({
  types: {
    context: {} as SessionContext,
    events: {} as SessionEvent,
    input: {} as SessionInput,
  },
  actors: {
    /** Provided by src/whatsapp: one Baileys socket for the life of `online`. */
    connection: fromCallback<GateGrantedEvent, ConnectionInput>(() => undefined),
  },
  delays: {
    retryDelay: ({ context }) => context.retryDelayMs ?? 0,
    connectTimeout: ({ context }) => context.connectTimeoutMs,
  },
  guards: {
    isRestartRequired: ({ event }) =>
      event.type === 'client.closed' && classifyDisconnect(event.code).decision === 'restart',
    isPermanentReason: ({ event }) =>
      event.type === 'client.closed' && classifyDisconnect(event.code).decision === 'permanent',
    isRestoringBackoff: ({ event }) => event.type === 'session.restore' && event.status === 'backoff',
    isRestoringFailure: ({ event }) => event.type === 'session.restore' && event.status === 'failed',
    isQrExpired: ({ event }) => event.type === 'client.closed' && event.reason === 'qr_timeout',
    isAutoReconnectOff: ({ context }) => !context.autoReconnect,
    canRetry: ({ context }) => context.attempt < context.maxAttempts,
    changesRoute: ({ event }) => event.type === 'session.configure' && 'proxyUrl' in event,
  },
  actions: {
    startEpisode: assign(({ event }) => ({
      attempt: 0,
      retryDelayMs: null,
      nextRetryAt: null,
      failureReason: null,
      qr: null,
      qrExpiresAt: null,
      taskId: event.type === 'session.reconnect' ? (event.taskId ?? null) : null,
    })),
    recordError: assign(({ context, event }) => {
      if (event.type !== 'client.closed') return {};
      const { reason } = classifyDisconnect(event.code, event.reason);
      return {
        lastError: { code: event.code, reason, message: event.message ?? reason, at: context.now() },
        qr: null,
        qrExpiresAt: null,
      };
    }),
    scheduleRetry: assign(({ context }) => {
      const attempt = context.attempt + 1;
      const delay = retryDelayMs(context.policy, attempt, context.random);
      return { attempt, retryDelayMs: delay, nextRetryAt: context.now() + delay };
    }),
    clearRetry: assign({ retryDelayMs: null, nextRetryAt: null }),
    failWithErrorReason: assign(({ context }) => ({ failureReason: context.lastError?.reason ?? 'unknown' })),
    failQrTimeout: assign({ failureReason: 'qr_timeout' }),
    failDisconnected: assign({ failureReason: 'disconnected' }),
    failExhausted: assign(({ context }) => ({ failureReason: exhaustedReason(context.lastError?.reason) })),
    storeQr: assign(({ event }) =>
      event.type === 'client.qr'
        ? { qr: event.qr, qrExpiresAt: event.expiresAt ?? null }
        : { qr: null, qrExpiresAt: null },
    ),
    markOpen: assign(({ context }) => ({
      openedAfterAttempts: context.attempt,
      attempt: 0,
      retryDelayMs: null,
      nextRetryAt: null,
      failureReason: null,
      qr: null,
      qrExpiresAt: null,
      connectedAt: context.now(),
    })),
    endEpisodeOnDrop: assign({ taskId: null, connectedAt: null }),
    applyConfig: assign(({ context, event }) =>
      event.type === 'session.configure' && event.autoReconnect !== undefined
        ? { autoReconnect: event.autoReconnect }
        : { autoReconnect: context.autoReconnect },
    ),
    stopped: assign({
      retryDelayMs: null,
      nextRetryAt: null,
      qr: null,
      qrExpiresAt: null,
      connectedAt: null,
      taskId: null,
    }),
    restore: assign(({ context, event }) => {
      if (event.type !== 'session.restore') return {};
      if (event.status === 'failed') {
        return { failureReason: event.failureReason, lastError: event.lastError };
      }
      const attempt = Math.min(Math.max(1, event.attempt), context.maxAttempts);
      const delay = Math.max(0, event.retryInMs);
      return { attempt, retryDelayMs: delay, nextRetryAt: context.now() + delay, lastError: event.lastError };
    }),
    raiseConnectTimeout: raise({ type: 'client.closed', code: 408, message: 'connect timeout' }),
  },
}).createMachine({
  id: 'session',
  context: ({ input }) => ({
    sessionId: input.sessionId,
    autoReconnect: input.autoReconnect,
    policy: input.policy ?? DEFAULT_RECONNECT_POLICY,
    random: input.random ?? Math.random,
    now: input.now ?? Date.now,
    connectTimeoutMs: input.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    attempt: 0,
    maxAttempts: (input.policy ?? DEFAULT_RECONNECT_POLICY).delaysMs.length,
    retryDelayMs: null,
    nextRetryAt: null,
    lastError: null,
    failureReason: null,
    taskId: null,
    qr: null,
    qrExpiresAt: null,
    openedAfterAttempts: 0,
    connectedAt: null,
  }),
  initial: 'idle',
  on: {
    'session.stop': { target: '.idle', actions: 'stopped' },
    'session.reconnect': { target: '.online', reenter: true, actions: 'startEpisode' },
    'session.configure': { actions: 'applyConfig' },
  },
  states: {
    idle: {
      on: {
        'session.start': { target: 'online', actions: 'startEpisode' },
        'session.restore': [
          { guard: 'isRestoringBackoff', target: 'backoff', actions: 'restore' },
          { guard: 'isRestoringFailure', target: 'failed', actions: 'restore' },
        ],
      },
    },
    // One connection lives from connecting through connected.
    online: {
      initial: 'connecting',
      invoke: {
        id: 'connection',
        src: 'connection',
        input: ({ context }) => ({ sessionId: context.sessionId, attempt: context.attempt }),
      },
      on: {
        'session.configure': {
          guard: 'changesRoute',
          target: 'online',
          reenter: true,
          actions: 'applyConfig',
        },
        'client.closed': [
          // Normal after pairing: a new socket at once, no attempt used.
          { guard: 'isRestartRequired', target: 'online', reenter: true },
          { guard: 'isPermanentReason', target: 'failed', actions: ['recordError', 'failWithErrorReason'] },
          { guard: 'isAutoReconnectOff', target: 'failed', actions: ['recordError', 'failDisconnected'] },
          { guard: 'canRetry', target: 'backoff', actions: ['recordError', 'scheduleRetry'] },
          { target: 'failed', actions: ['recordError', 'failExhausted'] },
        ],
      },
      states: {
        connecting: {
          initial: 'handshake',
          on: { 'client.open': { target: 'connected', actions: 'markOpen' } },
          states: {
            handshake: {
              after: { connectTimeout: { actions: 'raiseConnectTimeout' } },
              on: { 'client.qr': { target: 'qr', actions: 'storeQr' } },
            },
            // Waiting for the phone to scan; Baileys rotates the QR until its refs run out.
            qr: {
              on: {
                'client.qr': { actions: 'storeQr' },
                'client.closed': {
                  guard: 'isQrExpired',
                  target: '#session.failed',
                  actions: ['recordError', 'failQrTimeout'],
                },
              },
            },
          },
        },
        connected: {
          exit: 'endEpisodeOnDrop',
        },
      },
    },
    backoff: {
      after: { retryDelay: { target: 'online', actions: 'clearRetry' } },
      on: { 'session.start': {} },
    },
    failed: {
      on: { 'session.start': { target: 'online', actions: 'startEpisode' } },
    },
  },
});

export type SessionMachine = typeof sessionMachine;
