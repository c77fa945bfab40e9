// Signal-key write throughput of the PostgreSQL auth store against raw `pg` inserts of the same rows.
// Usage: npm run bench:key-store -- [--keys 20000] [--pre-keys 30] [--sessions 10] [--json]
// Database: a fresh database on TEST_DATABASE_URL or DATABASE_URL (created and dropped), else the
// embedded PGlite in a temporary DATA_DIR, exactly as the daemon runs it.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Curve, type SignalDataSet } from '@whiskeysockets/baileys';
import pg from 'pg';
import { pino } from 'pino';
import { type Database, openDatabase } from '../src/persistence/database.js';
import { createPgAuthStore } from '../src/persistence/pg-auth-store.js';
import { createKeyring, rowAad } from '../src/persistence/secret-box.js';
import { createSessionRepository } from '../src/persistence/session-repository.js';
import { encodeAuthValue } from '../src/whatsapp/auth-store.js';

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: process.env.KEYS ?? '20000' },
    'pre-keys': { type: 'string', default: '30' },
    sessions: { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
  },
});
const totalKeys = positiveInt('keys', args.keys);
const preKeysPerCall = positiveInt('pre-keys', args['pre-keys']);
const sessionsPerCall = Number(args.sessions);
const perCall = preKeysPerCall + sessionsPerCall;
const calls = Math.ceil(totalKeys / perCall);

function positiveInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${value}`);
  return n;
}

const logger = pino({ level: 'silent' });
const keyring = createKeyring(randomBytes(32));

/** `calls` batches shaped like Baileys' `keys.set`: pre-keys (key pairs) plus session records. */
function makeBatches(): SignalDataSet[] {
  const batches: SignalDataSet[] = [];
  let preKeyId = 1;
  let sessionNo = 1;
  for (let c = 0; c < calls; c++) {
    const preKeys: NonNullable<SignalDataSet['pre-key']> = {};
    for (let i = 0; i < preKeysPerCall; i++) preKeys[String(preKeyId++)] = Curve.generateKeyPair();
    const sessions: NonNullable<SignalDataSet['session']> = {};
    // A libsignal session record is typically 1-2 KB.
    for (let i = 0; i < sessionsPerCall; i++)
      sessions[`55119${String(sessionNo++).padStart(8, '0')}.0`] = randomBytes(1500);
    batches.push({ 'pre-key': preKeys, session: sessions });
  }
  return batches;
}

async function openBenchDatabase(): Promise<{ db: Database; where: string; dispose(): Promise<void> }> {
  const serverUrl = process.env.TEST_DATABASE_URL?.trim() || process.env.DATABASE_URL?.trim();
  if (serverUrl) {
    const name = `wa_bench_key_store_${process.pid}`;
    const admin = async (sql: string) => {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        await client.query(sql);
      } finally {
        await client.end();
      }
    };
    await admin(`create database "${name}"`);
    const url = new URL(serverUrl);
    url.pathname = `/${name}`;
    const db = await openDatabase({ databaseUrl: url.toString(), dataDir: tmpdir(), logger });
    return {
      db,
      where: `PostgreSQL server ${url.host}`,
      async dispose() {
        await db.close();
        await admin(`drop database if exists "${name}" with (force)`);
      },
    };
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'wa-bench-key-store-'));
  const db = await openDatabase({ dataDir, logger });
  return {
    db,
    where: 'embedded PGlite (one connection)',
    async dispose() {
      await db.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

const rate = (keys: number, ms: number) => Math.round((keys / ms) * 1000);

const batches = makeBatches();
const keysWritten = calls * perCall;
const { db, where, dispose } = await openBenchDatabase();
try {
  const repo = createSessionRepository({ orm: db.orm, keyring });
  const storeSession = (await repo.create({ usuarioId: 1, deviceName: 'bench store' })).id;
  const rawSession = (await repo.create({ usuarioId: 1, deviceName: 'bench raw' })).id;

  // 1. Encoding and encryption alone, for reference.
  const t = performance.now();
  const sealedBatches = batches.map((batch) =>
    Object.entries(batch).flatMap(([type, values]) =>
      Object.entries(values ?? {}).map(([keyId, value]) => {
        const sealed = keyring.seal(encodeAuthValue(value), rowAad(rawSession, type, keyId));
        return [rawSession, type, keyId, sealed.data, sealed.keyId] as const;
      }),
    ),
  );
  const sealMs = performance.now() - t;

  // 2 and 3, interleaved batch by batch (alternating which goes first) so both see the same load:
  //   the store, one awaited keys.set per batch as Baileys calls it; and raw pg on a connection of
  //   the same pool (a pg.Client), the same rows already encrypted, one transaction with one
  //   multi-row upsert per batch.
  const { state } = await createPgAuthStore({ orm: db.orm, keyring, logger }).open(String(storeSession));
  const knex = db.orm.em.fork().getConnection().getKnex();
  const storeCall = async (i: number) => {
    const start = performance.now();
    await state.keys.set(batches[i]);
    return performance.now() - start;
  };
  const rawCall = async (i: number) => {
    const start = performance.now();
    const rows = sealedBatches[i];
    const placeholders = rows.map(
      (_, r) => `($${r * 5 + 1}, $${r * 5 + 2}, $${r * 5 + 3}, $${r * 5 + 4}, $${r * 5 + 5})`,
    );
    const client = (await knex.client.acquireConnection()) as pg.Client;
    try {
      await client.query('begin');
      await client.query(
        `insert into whatsapp_auth_key (session_id, type, key_id, value, enc_key_id) values ${placeholders.join(', ')}
         on conflict (session_id, type, key_id) do update set value = excluded.value, enc_key_id = excluded.enc_key_id`,
        rows.flat(),
      );
      await client.query('commit');
    } finally {
      await knex.client.releaseConnection(client);
    }
    return performance.now() - start;
  };
  let storeMs = 0;
  let rawMs = 0;
  for (let i = 0; i < batches.length; i++) {
    if (i % 2 === 0) {
      storeMs += await storeCall(i);
      rawMs += await rawCall(i);
    } else {
      rawMs += await rawCall(i);
      storeMs += await storeCall(i);
    }
  }

  const [{ n }] = await db.orm.em
    .fork()
    .execute<{ n: string }[]>('select count(*) as n from whatsapp_auth_key');
  if (Number(n) !== 2 * keysWritten) throw new Error(`expected ${2 * keysWritten} rows, found ${n}`);

  const result = {
    where,
    keys: keysWritten,
    calls,
    perCall: { preKeys: preKeysPerCall, sessions: sessionsPerCall },
    storeKeysPerSec: rate(keysWritten, storeMs),
    rawPgKeysPerSec: rate(keysWritten, rawMs),
    storeToRawRatio: Number((storeMs / rawMs).toFixed(2)),
    /** The store's time less what encoding and encryption took on their own, against raw pg. */
    storeLessSealToRawRatio: Number(((storeMs - sealMs) / rawMs).toFixed(2)),
    encodeAndSealKeysPerSec: rate(keysWritten, sealMs),
    ms: { store: Math.round(storeMs), rawPg: Math.round(rawMs), encodeAndSeal: Math.round(sealMs) },
  };
  if (args.json) {
    console.log(JSON.stringify(result));
  } else {
    console.log(
      `key store: ${keysWritten} keys in ${calls} keys.set calls (${preKeysPerCall} pre-keys + ${sessionsPerCall} sessions each), ${where}`,
    );
    console.log(
      `  PgAuthStore (BufferJSON + AES-256-GCM + MikroORM): ${result.storeKeysPerSec} keys/s (${result.ms.store} ms)`,
    );
    console.log(
      `  raw pg, same rows pre-encrypted:                  ${result.rawPgKeysPerSec} keys/s (${result.ms.rawPg} ms)`,
    );
    console.log(
      `  store takes ${result.storeToRawRatio}x the time of raw pg; ` +
        `${result.storeLessSealToRawRatio}x without the encode + encrypt time below`,
    );
    console.log(
      `  encode + encrypt alone, no database:              ${result.encodeAndSealKeysPerSec} keys/s (${result.ms.encodeAndSeal} ms)`,
    );
  }
} finally {
  await dispose();
}
