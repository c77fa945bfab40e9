import makeWASocket, {
  type ConnectionState,
  makeCacheableSignalKeyStore,
  type SocketConfig,
  type WASocket,
} from '@whiskeysockets/baileys';
import type { LevelWithSilent, Logger } from 'pino';
import { type CallbackActorLogic, fromCallback } from 'xstate';
import type {
  ConnectionEvent,
  ConnectionInput,
  GateEvent,
  GateGrantedEvent,
} from '../../machines/connection-protocol.js';
import type { AuthStateStore, OpenedAuthState } from './auth-store.js';
import { isBaileysHardened } from './baileys-hardening.js';
import { createProxyAgent, isProxyError, type ProxyAgent, parseProxyUrl, proxyLabel } from './proxy.js';
import { withSharedAsyncStorage } from './shared-async-storage.js';
import type { SocketRegistry } from './socket-registry.js';
import { inSocketContext, outsideSocketContext } from './socket-timers.js';

export interface ConnectionDeps {
  authStore: AuthStateStore;
  logger: Logger;
  waWebSocketUrl: string;
  /** Extra Baileys options (e.g. `agent` for a proxy, `browser`); they win over the defaults below. */
  socketConfig?: Partial<SocketConfig>;
  /** Floor for Baileys' own log level: its info lines repeat ours with whole protocol payloads. */
  baileysLogLevel?: LevelWithSilent;
  /** Where the live socket is published for logout and pairing codes (the HTTP API). */
  sockets?: SocketRegistry;
  /**
   * The session's proxy URL at this connect, or null for a direct connection. Asked before every
   * socket, so a changed proxy applies from the next connect on.
   */
  resolveProxy?: (sessionId: string) => Promise<string | null>;
}

/** What `connection.update` close turns into. */
export interface DisconnectInfo {
  code: number;
  message: string;
  reason?: string;
}

/** Milliseconds an ended socket may wait for the server's close frame before it is torn down. */
const CLOSE_GRACE_MS = 2_000;

// Chosen so that a fleet of idle sessions stays cheap; see README.md.
const FLEET_DEFAULTS: Partial<SocketConfig> = {
  markOnlineOnConnect: false,
  syncFullHistory: false,
  printQRInTerminal: false,
  generateHighQualityLinkPreview: false,
};

/**
 * The `connection` actor the session machine invokes: one Baileys socket, from connect-gate
 * grant to close. Sends `client.qr`, `client.open` and at most one `client.closed`; persists
 * `creds.update` in order before reporting a close; on stop ends the socket without logging out.
 * @throws Error if `hardenBaileys()` has not run: Baileys would accept any server certificate.
 */
export function createConnectionLogic(
  deps: ConnectionDeps,
): CallbackActorLogic<GateGrantedEvent, ConnectionInput> {
  if (!isBaileysHardened()) throw new Error('call hardenBaileys() before creating connections');
  return fromCallback<GateGrantedEvent, ConnectionInput>(({ input, sendBack, receive, system, self }) => {
    const { sessionId } = input;
    const log = deps.logger.child({ session_id: sessionId });
    const supervisor = system.get('supervisor');
    let gate: 'none' | 'waiting' | 'held' | 'released' = 'none';
    let stopped = false;
    let closedSent = false;
    let sock: WASocket | undefined;
    let saving: Promise<void> = Promise.resolve();
    let unregister: (() => void) | undefined;
    let qrShown = 0;

    // Actors start timers when they handle our events (backoff, connect timeout): send from outside the socket context.
    const releaseGate = () => {
      if (gate !== 'waiting' && gate !== 'held') return;
      gate = 'released';
      const release: GateEvent = { type: 'gate.release', sessionId, replyTo: self };
      outsideSocketContext(() => supervisor?.send(release));
    };
    const send = (event: ConnectionEvent) => {
      if (!stopped) outsideSocketContext(() => sendBack(event));
    };
    const reportClosed = (info: DisconnectInfo) => {
      releaseGate();
      if (closedSent || stopped) return;
      closedSent = true;
      send({ type: 'client.closed', ...info });
    };

    const onUpdate = (update: Partial<ConnectionState>) => {
      if (update.qr) {
        releaseGate();
        log.info('qr shown');
        // Baileys' timing: the first QR lives qrTimeout (60 s default), later ones 20 s by default.
        const qrTimeout = deps.socketConfig?.qrTimeout;
        const lifetime = qrTimeout || (qrShown++ === 0 ? 60_000 : 20_000);
        send({ type: 'client.qr', qr: update.qr, expiresAt: Date.now() + lifetime });
      }
      if (update.isNewLogin) log.info('paired; the server restarts the connection');
      if (update.connection === 'open') {
        releaseGate();
        log.info({ attempt: input.attempt }, 'connection open');
        send({ type: 'client.open' });
      }
      if (update.connection === 'close') {
        releaseGate();
        if (stopped) return;
        const info = describeDisconnect(update.lastDisconnect?.error);
        log.info(
          { code: info.code, reason: info.reason, err: update.lastDisconnect?.error },
          'connection closed',
        );
        // After pairing the server asks for a restart: the next socket must load the new creds.
        void saving.then(() => reportClosed(info));
      }
    };

    // Never falls back to a direct connection: a proxy that is configured but unusable is a close.
    const proxyRoute = async (): Promise<{ agent: ProxyAgent; label: string } | null | 'failed'> => {
      let url: string | null;
      try {
        url = (await deps.resolveProxy?.(sessionId)) ?? null;
      } catch (err) {
        log.error({ err }, 'could not read the proxy settings');
        reportClosed({
          code: 500,
          message: 'could not read the proxy settings',
          reason: 'persistence_error',
        });
        return 'failed';
      }
      if (!url) return null;
      const parsed = parseProxyUrl(url);
      if ('problem' in parsed) {
        log.error({ problem: parsed.problem }, 'the configured proxy URL is invalid');
        reportClosed({ code: 503, message: `proxy URL ${parsed.problem}`, reason: 'proxy_error' });
        return 'failed';
      }
      const timeoutMs = deps.socketConfig?.connectTimeoutMs ?? 20_000;
      return { agent: createProxyAgent(url, { timeoutMs }), label: proxyLabel(parsed.endpoint) };
    };

    const connect = async () => {
      let opened: OpenedAuthState;
      try {
        opened = await deps.authStore.open(sessionId);
      } catch (err) {
        log.error({ err }, 'could not load credentials');
        reportClosed({ code: 500, message: 'could not load credentials', reason: 'persistence_error' });
        return;
      }
      if (stopped) return;
      const { state, saveCreds } = opened;
      const route = await proxyRoute();
      if (stopped || route === 'failed') return;
      log.info(
        { attempt: input.attempt, registered: Boolean(state.creds.me), proxy: route?.label ?? null },
        'connecting',
      );
      try {
        // One shared AsyncLocalStorage instead of one per socket: see shared-async-storage.ts.
        sock = inSocketContext(() =>
          withSharedAsyncStorage(() =>
            makeWASocket({
              ...FLEET_DEFAULTS,
              waWebSocketUrl: deps.waWebSocketUrl,
              logger: baileysLogger(log, deps.baileysLogLevel ?? 'warn'),
              ...deps.socketConfig,
              // All traffic through the proxy: the WebSocket and Baileys' HTTP (media uploads).
              ...(route ? { agent: route.agent, fetchAgent: route.agent } : {}),
              auth: { creds: state.creds, keys: makeCacheableSignalKeyStore(state.keys, log) },
            }),
          ),
        );
      } catch (err) {
        log.error({ err }, 'could not create the socket');
        reportClosed(describeDisconnect(err));
        return;
      }
      const current = sock;
      current.ev.on('creds.update', () => {
        saving = saving.then(saveCreds).catch((err: unknown) => {
          log.error({ err }, 'could not save credentials; closing the connection');
          reportClosed({ code: 500, message: 'could not save credentials', reason: 'persistence_error' });
          endSocket(current, log);
        });
      });
      current.ev.on('connection.update', onUpdate);
      unregister = deps.sockets?.register(sessionId, {
        requestPairingCode: (phone) => inSocketContext(() => current.requestPairingCode(phone)),
        logout: () => inSocketContext(() => current.logout()),
      });
    };

    if (supervisor) {
      receive((event) => {
        if (event.type !== 'gate.granted' || gate !== 'waiting' || stopped) return;
        gate = 'held';
        void connect();
      });
      gate = 'waiting';
      supervisor.send({ type: 'gate.acquire', sessionId, replyTo: self } satisfies GateEvent);
    } else {
      void connect();
    }

    return () => {
      stopped = true;
      releaseGate();
      unregister?.();
      if (sock) endSocket(sock, log);
    };
  });
}

/** Closes the socket without logging out, and lets none of its leftovers hold the process. */
function endSocket(sock: WASocket, log: Logger): void {
  inSocketContext(() => {
    sock.end(undefined).catch((err: unknown) => log.warn({ err }, 'error while ending the socket'));
  });
  // ws waits up to 30 s for the server's close frame; an unresponsive server must not keep the TCP socket.
  const raw = sock.ws as unknown as { socket?: { terminate(): void } | null };
  setTimeout(() => raw.socket?.terminate(), CLOSE_GRACE_MS).unref();
}

function baileysLogger(log: Logger, floor: LevelWithSilent): Logger {
  const values = log.levels.values;
  const level = (values[floor] ?? Number.POSITIVE_INFINITY) > (values[log.level] ?? 0) ? floor : log.level;
  return log.child({ component: 'baileys' }, { level });
}

const CERTIFICATE_ERROR = /noise (leaf |intermediate )?certificate|certification match failed/i;
const PAIRING_ERROR = /account signature|pair success node/i;

interface ErrorLike {
  message?: string;
  code?: unknown;
  output?: { statusCode?: number };
  data?: unknown;
}

/**
 * Maps Baileys' `lastDisconnect.error` to the code, message and reason override the session sees.
 *
 * - A failure at the proxy (the agent's `ProxyError`, which Baileys wraps as `data`) is 503 with
 *   reason `proxy_error` and the proxy's side of the story as message (never its credentials).
 * - A Boom status is kept (401, 403, 408, 411, 428, 440, 500, 503, 515, ...).
 * - Network errors (errno codes such as ECONNREFUSED, ENOTFOUND, ECONNRESET) are 503: Baileys
 *   reports them as 408, the code it also uses for "QR refs ran out", which the session treats as final.
 * - An exhausted QR stays 408 with reason `qr_timeout`.
 * - A Noise certificate that does not verify is 400 with reason `certificate_invalid`.
 * - A rejected pair-success (HMAC or account signature) is 500 with reason `pairing_rejected`.
 * - Anything else without a status is 500 with reason `connection_error` (not `bad_session`).
 */
export function describeDisconnect(error: unknown): DisconnectInfo {
  const err = (typeof error === 'object' && error !== null ? error : {}) as ErrorLike;
  const message = err.message || (error === undefined ? 'connection closed' : String(error));
  const proxyError = [err, err.data].find(isProxyError);
  if (proxyError) return { code: 503, message: proxyError.message, reason: 'proxy_error' };
  const errno = networkErrorCode(err) ?? networkErrorCode(err.data);
  if (errno) return { code: 503, message: `cannot reach WhatsApp (${errno})`, reason: 'unavailable' };
  if (CERTIFICATE_ERROR.test(message)) {
    return {
      code: 400,
      message: `server certificate chain did not verify (${message})`,
      reason: 'certificate_invalid',
    };
  }
  if (PAIRING_ERROR.test(message)) {
    return { code: 500, message: `pairing rejected: ${message}`, reason: 'pairing_rejected' };
  }
  const status = err.output?.statusCode;
  if (typeof status !== 'number') return { code: 500, message, reason: 'connection_error' };
  if (status === 408 && /QR refs/i.test(message)) return { code: 408, message, reason: 'qr_timeout' };
  return { code: status, message };
}

function networkErrorCode(value: unknown): string | undefined {
  const code = typeof value === 'object' && value !== null ? (value as ErrorLike).code : undefined;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? code : undefined;
}
