/**
 * Does verification stay flat as the key table grows? Cache-miss verify latency (a SQLite look-up every time) with
 * 1,000, 100,000 and 1,000,000 stored keys, beside the same figure at 1,000 keys, all in one run. Also the key
 * cache's memory per entry. Run: npm run bench:keycount
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { hashKey, KeyFormat } from '../packages/core/src/index.js';
import { sqliteStore } from '../packages/server/src/storage/sqlite-store.js';
import { KeyCache } from '../packages/server/src/verify/key-cache.js';
import { fmt, median } from './lib.js';

const SECRET = 'keycount-bench-secret-0123456789';
const format = new KeyFormat([{ name: 'test', prefix: 'kw_test_' }]);
const store = sqliteStore(join(mkdtempSync(join(tmpdir(), 'kw-keycount-')), 'keyward.db'));
await store.migrate();
await store.createAccount({
  user: { id: 'usr_bench', email: 'bench@example.com', name: null, passwordHash: 'x', createdAt: 0 },
  organization: { id: 'org_bench', name: 'Bench', plan: 'enterprise', createdAt: 0 },
  member: {
    id: 'mem_bench',
    orgId: 'org_bench',
    userId: 'usr_bench',
    email: 'bench@example.com',
    role: 'admin',
    inviteTokenHash: null,
    inviteExpiresAt: null,
    invitedBy: null,
    createdAt: 0,
    joinedAt: 0,
  },
});
const db = (store as any).db as import('kysely').Kysely<any>;

const sample = Array.from({ length: 1000 }, () => format.generate('test'));
let stored = 0;
async function fill(total: number) {
  const rows: Record<string, unknown>[] = [];
  await db.transaction().execute(async (trx) => {
    while (stored < total) {
      const real = stored < sample.length ? (sample[stored] as string) : null;
      rows.push({
        id: `key_${String(stored).padStart(22, '0')}`,
        org_id: 'org_bench',
        created_by: 'usr_bench',
        name: `k${stored}`,
        environment: 'test',
        scope: 'read',
        tier: 'enterprise',
        hash: real ? hashKey(SECRET, real) : randomBytes(32).toString('hex'),
        prefix: 'kw_test_',
        last4: 'abcd',
        created_at: 0,
        expires_at: null,
        revoked_at: null,
        last_used_at: null,
        ip_allowlist: '[]',
        metadata: '{}',
        rotated_from: null,
        rotated_to: null,
      });
      stored++;
      if (rows.length === 500) await trx.insertInto('api_keys').values(rows.splice(0)).execute();
    }
    if (rows.length) await trx.insertInto('api_keys').values(rows.splice(0)).execute();
  });
}

/** Microseconds of a cache-missing look-up (HMAC + SQLite) over the sample keys: median and best of 15 runs. */
async function missLatency(): Promise<{ median: number; best: number }> {
  const runs: number[] = [];
  for (let r = 0; r < 15; r++) {
    const t0 = performance.now();
    for (const k of sample) await store.findKeyForVerify(hashKey(SECRET, k));
    runs.push(((performance.now() - t0) * 1000) / sample.length);
  }
  return { median: median(runs), best: Math.min(...runs) };
}

const results: [number, { median: number; best: number }][] = [];
for (const size of [1_000, 100_000, 1_000_000]) {
  await fill(size);
  // A running server checkpoints its WAL as it goes; right after a bulk insert every read would consult a huge WAL.
  await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(db);
  if (size === 1_000) await missLatency(); // warm-up: JIT and SQLite page cache, so the first figure is not a cold one
  results.push([size, await missLatency()]);
}
const base = results[0]?.[1] ?? { median: 1, best: 1 };
console.log('cache-miss verify look-up (HMAC + SQLite) over 1,000 keys, 15 runs: median and best, beside the 1,000-key figures');
for (const [size, r] of results) {
  console.log(
    `${fmt(size)} stored keys  median ${r.median.toFixed(1).padStart(6)} µs (${((100 * r.median) / base.median).toFixed(0).padStart(3)}%)  best ${r.best.toFixed(1).padStart(6)} µs (${((100 * r.best) / base.best).toFixed(0).padStart(3)}%)`,
  );
}

const cache = new KeyCache(
  { maxEntries: 200_000, ttlMs: 60_000 },
  () => ({ requestsPerMinute: 60, monthlyRequests: 1000, maxActiveKeys: 5 }),
  { serves: () => true },
);
const found = (await Promise.all(sample.map((k) => store.findKeyForVerify(hashKey(SECRET, k))))).filter((e) => e !== undefined);
if (found.length !== sample.length) throw new Error(`only ${found.length} of ${sample.length} sample keys were found`);
const N = 100_000;
const hashes = Array.from({ length: N }, () => randomBytes(32).toString('base64'));
globalThis.gc?.();
const before = process.memoryUsage().heapUsed;
for (let i = 0; i < N; i++) {
  const e = found[i % found.length] as NonNullable<(typeof found)[number]>;
  cache.set(
    hashes[i] as string,
    { ...e, id: `key_${String(i).padStart(22, '0')}`, name: `${e.name}-${i}`, metadata: {}, ipAllowlist: [] },
    Date.now(),
  );
}
globalThis.gc?.();
const perEntry = (process.memoryUsage().heapUsed - before) / N;
console.log(
  `\nkey cache: ${fmt(cache.size)} entries, ${perEntry.toFixed(0)} bytes per cached key (target < 1,024; the 44-byte hash string it is keyed by not included)`,
);
await store.close();
