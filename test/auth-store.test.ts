import { initAuthCreds, proto } from '@whiskeysockets/baileys';
import { describe, expect, it } from 'vitest';
import { createMemoryAuthStore } from '../src/whatsapp/auth-store.js';

describe('createMemoryAuthStore', () => {
  it('opens fresh unpaired creds for an unknown session, without saving them', async () => {
    const store = createMemoryAuthStore();
    const first = await store.open('1');
    expect(first.state.creds.me).toBeUndefined();
    expect(first.state.creds.noiseKey.public).toHaveLength(32);
    const second = await store.open('1');
    expect(Buffer.from(second.state.creds.noiseKey.public)).not.toEqual(
      Buffer.from(first.state.creds.noiseKey.public),
    );
  });

  it('saves creds as they are when saveCreds runs, and returns copies', async () => {
    const store = createMemoryAuthStore();
    const { state, saveCreds } = await store.open('1');
    state.creds.me = { id: '5511999990001:1@s.whatsapp.net' };
    await saveCreds();
    state.creds.me = { id: 'changed-after-save@s.whatsapp.net' };

    const again = await store.open('1');
    expect(again.state.creds.me).toEqual({ id: '5511999990001:1@s.whatsapp.net' });
    expect(again.state.creds).not.toBe(state.creds);
    expect(Buffer.isBuffer(again.state.creds.noiseKey.private)).toBe(true);
    expect(Buffer.from(again.state.creds.noiseKey.private)).toEqual(
      Buffer.from(state.creds.noiseKey.private),
    );
  });

  it('writes a key batch, deletes on null, and never shares objects with callers', async () => {
    const store = createMemoryAuthStore();
    const { state } = await store.open('1');
    const session = Buffer.from([1, 2, 3]);
    const preKey = initAuthCreds().signedIdentityKey;
    await state.keys.set({ session: { a: session, b: Buffer.from([9]) }, 'pre-key': { '1': preKey } });
    session[0] = 42;

    const got = await state.keys.get('session', ['a', 'b', 'missing']);
    expect(got).toEqual({ a: Buffer.from([1, 2, 3]), b: Buffer.from([9]) });
    got.a[1] = 42;
    expect((await state.keys.get('session', ['a'])).a).toEqual(Buffer.from([1, 2, 3]));
    expect((await state.keys.get('pre-key', ['1']))['1'].private).toEqual(Buffer.from(preKey.private));

    await state.keys.set({ session: { a: null } });
    expect(await state.keys.get('session', ['a', 'b'])).toEqual({ b: Buffer.from([9]) });
  });

  it('leaves the store untouched when one value of a batch cannot be written', async () => {
    const store = createMemoryAuthStore();
    const { state } = await store.open('1');
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await expect(
      state.keys.set({
        session: { a: Buffer.from([1]) },
        'sender-key-memory': { x: circular as Record<string, boolean> },
      }),
    ).rejects.toThrow();
    expect(await state.keys.get('session', ['a'])).toEqual({});
  });

  it('returns app-state sync keys as protobuf objects, as Baileys expects', async () => {
    const store = createMemoryAuthStore();
    const { state } = await store.open('1');
    const keyData = proto.Message.AppStateSyncKeyData.fromObject({
      keyData: Buffer.from('key'),
      timestamp: 1,
    });
    await state.keys.set({ 'app-state-sync-key': { k1: keyData } });
    const { k1 } = await state.keys.get('app-state-sync-key', ['k1']);
    expect(k1).toBeInstanceOf(proto.Message.AppStateSyncKeyData);
    expect(Buffer.from(k1.keyData as Uint8Array).toString()).toBe('key');
  });

  it('keeps sessions apart and clears one completely', async () => {
    const store = createMemoryAuthStore();
    const one = await store.open('1');
    const two = await store.open('2');
    one.state.creds.me = { id: 'one@s.whatsapp.net' };
    await one.saveCreds();
    await one.state.keys.set({ session: { a: Buffer.from([1]) } });
    await two.state.keys.set({ session: { a: Buffer.from([2]) } });

    await store.clear('1');
    const reopened = await store.open('1');
    expect(reopened.state.creds.me).toBeUndefined();
    expect(await reopened.state.keys.get('session', ['a'])).toEqual({});
    expect(await two.state.keys.get('session', ['a'])).toEqual({ a: Buffer.from([2]) });
  });
});
