import type { AnyActorRef } from 'xstate';

/** Input the session machine gives its `connection` actor. */
export interface ConnectionInput {
  sessionId: string;
  /** Reconnect attempt this connection serves (0 = first connect of an episode). */
  attempt: number;
}

/** What a `connection` actor sends back to its session. */
export type ConnectionEvent =
  /** `expiresAt`: ms since epoch when this QR stops being valid. */
  | { type: 'client.qr'; qr: string; expiresAt?: number }
  | { type: 'client.open' }
  | {
      type: 'client.closed';
      code: number;
      message?: string;
      /** Overrides the reason derived from `code` (e.g. `proxy_error`). */
      reason?: string;
    };

/**
 * Connect gate protocol, spoken between a `connection` actor and the supervisor
 * (systemId `supervisor`). A connection asks for a slot before it dials and gives it
 * back once the handshake is over (open, QR shown, closed) or when it is torn down.
 */
export type GateEvent =
  | { type: 'gate.acquire'; sessionId: string; replyTo: AnyActorRef }
  /** `replyTo` must be the same ref the slot was asked with, so that an old and a new connection of one session are told apart. */
  | { type: 'gate.release'; sessionId: string; replyTo: AnyActorRef };

/** Sent by the supervisor to `replyTo` when the slot is granted. */
export interface GateGrantedEvent {
  type: 'gate.granted';
}
