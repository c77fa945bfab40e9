import type { AuthenticationState, SignalDataSet, SignalDataTypeMap } from '@whiskeysockets/baileys';
import { type AuthStateStore, decodeAuthValue, encodeAuthValue } from '../src/whatsapp/auth-store.js';

type KeyType = keyof SignalDataTypeMap;

/**
 * An in-memory store preloaded with encoded creds, serialising like `createMemoryAuthStore()`.
 * Seeding that one goes through `open()`, which first makes fresh creds (~20 ms of key generation
 * each): 1000 sessions would pay 20 s per variant for keys thrown away at once.
 */
export function createSeededAuthStore(encodedCreds: ReadonlyMap<string, string>): AuthStateStore {
  const creds = new Map(encodedCreds);
  const keys = new Map<string, Map<string, string>>();

  return {
    async open(sessionId) {
      const json = creds.get(sessionId);
      if (json === undefined) throw new Error(`no creds seeded for ${sessionId}`);
      const rows = () => {
        let found = keys.get(sessionId);
        if (!found) {
          found = new Map();
          keys.set(sessionId, found);
        }
        return found;
      };
      const state: AuthenticationState = {
        creds: decodeAuthValue('creds', json),
        keys: {
          async get<T extends KeyType>(type: T, ids: string[]) {
            const out: { [id: string]: SignalDataTypeMap[T] } = {};
            for (const id of ids) {
              const value = keys.get(sessionId)?.get(`${type}:${id}`);
              if (value !== undefined) out[id] = decodeAuthValue(type, value);
            }
            return out;
          },
          async set(data: SignalDataSet) {
            const stored = rows();
            for (const type of Object.keys(data) as KeyType[]) {
              for (const [id, value] of Object.entries(data[type] ?? {})) {
                if (value == null) stored.delete(`${type}:${id}`);
                else stored.set(`${type}:${id}`, encodeAuthValue(value));
              }
            }
          },
        },
      };
      return {
        state,
        async saveCreds() {
          creds.set(sessionId, encodeAuthValue(state.creds));
        },
      };
    },
    async clear(sessionId) {
      creds.delete(sessionId);
      keys.delete(sessionId);
    },
  };
}
