/**
 * The few operations the API may ask of a session's live Baileys socket. Everything else stays
 * inside the connection actor.
 */
export interface LiveSocket {
  /** Starts phone-number pairing; resolves to the code the user types on the phone. */
  requestPairingCode(phoneNumber: string): Promise<string>;
  /** Unlinks the device on WhatsApp's side; the socket then closes with 401. */
  logout(): Promise<void>;
}

/** Live sockets by session id, registered by the connection actor while it holds one. */
export interface SocketRegistry {
  get(sessionId: string): LiveSocket | undefined;
  /** Returns the function that unregisters exactly this entry (a newer socket is left alone). */
  register(sessionId: string, socket: LiveSocket): () => void;
}

export function createSocketRegistry(): SocketRegistry {
  const sockets = new Map<string, LiveSocket>();
  return {
    get: (sessionId) => sockets.get(sessionId),
    register(sessionId, socket) {
      sockets.set(sessionId, socket);
      return () => {
        if (sockets.get(sessionId) === socket) sockets.delete(sessionId);
      };
    },
  };
}
