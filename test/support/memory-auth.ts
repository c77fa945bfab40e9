import {
  type AuthenticationCreds,
  type AuthenticationState,
  initAuthCreds,
  type SignalDataSet,
  type SignalDataTypeMap,
  type SignalKeyStore,
} from '@whiskeysockets/baileys';

/** Map-backed SignalKeyStore: nothing persisted, for tests. */
export function makeMemoryKeyStore(): SignalKeyStore & { size(): number } {
  const data = new Map<string, unknown>();
  return {
    get<T extends keyof SignalDataTypeMap>(type: T, ids: string[]) {
      const out: { [id: string]: SignalDataTypeMap[T] } = {};
      for (const id of ids) {
        const value = data.get(`${type}:${id}`);
        if (value !== undefined) out[id] = value as SignalDataTypeMap[T];
      }
      return out;
    },
    set(set: SignalDataSet) {
      for (const [type, values] of Object.entries(set)) {
        for (const [id, value] of Object.entries(values ?? {})) {
          if (value === null || value === undefined) data.delete(`${type}:${id}`);
          else data.set(`${type}:${id}`, value);
        }
      }
    },
    clear() {
      data.clear();
    },
    size: () => data.size,
  };
}

/** In-memory AuthenticationState; Baileys mutates `creds` in place on creds.update. */
export function makeMemoryAuthState(creds: AuthenticationCreds = initAuthCreds()): AuthenticationState {
  return { creds, keys: makeMemoryKeyStore() };
}
