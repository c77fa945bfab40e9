import {
  type AuthenticationCreds,
  type AuthenticationState,
  BufferJSON,
  initAuthCreds,
  proto,
  type SignalDataSet,
  type SignalDataTypeMap,
} from '@whiskeysockets/baileys';

/** One session's Baileys auth state, opened from a store. */
export interface OpenedAuthState {
  /** `keys.set` writes one call's whole batch atomically; a `null` value deletes that key. */
  state: AuthenticationState;
  /** Persists `state.creds` as it is now (Baileys mutates it in place on `creds.update`). */
  saveCreds(): Promise<void>;
}

/**
 * Where sessions' Baileys credentials and signal keys live. The in-memory store below is the
 * reference; the PostgreSQL store implements the same contract.
 */
export interface AuthStateStore {
  /** Loads the session's state, or fresh unpaired credentials (not yet saved) when it has none. */
  open(sessionId: string): Promise<OpenedAuthState>;
  /** Deletes the session's credentials and keys. */
  clear(sessionId: string): Promise<void>;
}

type KeyType = keyof SignalDataTypeMap;

interface StoredSession {
  /** JSON through `BufferJSON`, as a database column would hold it. */
  creds?: string;
  keys: Map<KeyType, Map<string, string>>;
}

/** Serialise through Baileys' BufferJSON, the form every store writes. */
export function encodeAuthValue(value: unknown): string {
  return JSON.stringify(value, BufferJSON.replacer);
}

/** Inverse of {@link encodeAuthValue}; app-state sync keys come back as protobuf objects, as Baileys expects. */
export function decodeAuthValue<T>(type: KeyType | 'creds', json: string): T {
  const value = JSON.parse(json, BufferJSON.reviver);
  return (type === 'app-state-sync-key' ? proto.Message.AppStateSyncKeyData.fromObject(value) : value) as T;
}

/**
 * An {@link AuthStateStore} in process memory that behaves like a database: every value is
 * serialised on write and parsed on read, so no caller shares objects with the store.
 */
export function createMemoryAuthStore(): AuthStateStore {
  const sessions = new Map<string, StoredSession>();

  const session = (id: string): StoredSession => {
    let stored = sessions.get(id);
    if (!stored) {
      stored = { keys: new Map() };
      sessions.set(id, stored);
    }
    return stored;
  };

  return {
    async open(sessionId) {
      const stored = sessions.get(sessionId)?.creds;
      const creds: AuthenticationCreds = stored ? decodeAuthValue('creds', stored) : initAuthCreds();
      return {
        state: {
          creds,
          keys: {
            async get<T extends KeyType>(type: T, ids: string[]) {
              const rows = sessions.get(sessionId)?.keys.get(type);
              const out: { [id: string]: SignalDataTypeMap[T] } = {};
              for (const id of ids) {
                const json = rows?.get(id);
                if (json !== undefined) out[id] = decodeAuthValue(type, json);
              }
              return out;
            },
            async set(data: SignalDataSet) {
              // Encode everything first: a value that fails to serialise leaves the store untouched.
              const writes: [KeyType, string, string | null][] = [];
              for (const type of Object.keys(data) as KeyType[]) {
                for (const [id, value] of Object.entries(data[type] ?? {})) {
                  writes.push([type, id, value == null ? null : encodeAuthValue(value)]);
                }
              }
              const keys = session(sessionId).keys;
              for (const [type, id, json] of writes) {
                let rows = keys.get(type);
                if (json === null) {
                  rows?.delete(id);
                  continue;
                }
                if (!rows) {
                  rows = new Map();
                  keys.set(type, rows);
                }
                rows.set(id, json);
              }
            },
          },
        },
        async saveCreds() {
          session(sessionId).creds = encodeAuthValue(creds);
        },
      };
    },

    async clear(sessionId) {
      sessions.delete(sessionId);
    },
  };
}
