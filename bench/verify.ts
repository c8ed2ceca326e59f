/**
 * Verify throughput, each figure beside its baseline measured in the same run:
 *   - in-process verify (cache hit) vs a bare sha256 + Map.get loop over the same keys;
 *   - in-process verify that misses the cache (SQLite) vs the same baseline;
 *   - the same two for keys three levels down a tree of child keys (the look-up reads their ancestors too), and a
 *     cache hit of such keys when every level has a credit budget, so that each request is counted in four budgets;
 *   - POST /v1/keys/verify and GET /v1/whoami on the real server vs its own GET /health;
 *   - the tail: p50 and p99 of the same three routes at a fixed rate (2,000/s, 20 connections);
 *   - verify over HTTP with every look-up missing the cache (1,000 keys, a cache of one entry) vs cached verify, on
 *     SQLite and on PostgreSQL (KEYWARD_TEST_DATABASE_URL or postgres://postgres@127.0.0.1:5432/test; skipped with a
 *     notice when it does not answer).
 * Run: npm run bench:verify
 */
import { hash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { createKeyward, defineConfig } from '../packages/server/src/index.js';
import { load, median, opsPerSecond, row, startServer } from './lib.js';

const KEYS = 1000;

async function inProcess() {
  const config = defineConfig(
    { plans: { free: { requests_per_minute: null, monthly_requests: null, max_active_keys: null } } },
    {
      host: '127.0.0.1',
      port: 0,
      dataDir: mkdtempSync(join(tmpdir(), 'kw-bench-')),
      databaseUrl: null,
      redisUrl: null,
      secret: 'bench-secret-bench-secret',
    },
  );
  const kw = await createKeyward(config, { logger: pino({ level: 'silent' }) });
  const signup = await kw.app.inject({
    method: 'POST',
    url: '/api/auth/signup',
    payload: { email: 'bench@example.com', password: 'bench password 1' },
  });
  const cookie = String(signup.headers['set-cookie']).split(';')[0] ?? '';
  const raws: string[] = [];
  for (let i = 0; i < KEYS; i++) {
    const r = await kw.app.inject({ method: 'POST', url: '/api/developers/keys', headers: { cookie }, payload: { name: `k${i}` } });
    raws.push(r.json().key.raw_key);
  }

  // Three-deep trees: a root, 10 children, 100 grandchildren, 1000 great-grandchildren; in the second, a budget on
  // every level.
  const derive = async (key: string, budget: number | undefined) => {
    const r = await kw.app.inject({
      method: 'POST',
      url: '/v1/keys/derive',
      headers: { authorization: `Bearer ${key}` },
      payload: { ttl: 86_400, ...(budget ? { budget } : {}) },
    });
    return r.json().key.raw_key as string;
  };
  const tree = async (budgets: boolean) => {
    const root = await kw.app.inject({
      method: 'POST',
      url: '/api/developers/keys',
      headers: { cookie },
      payload: { name: 'tree root', ...(budgets ? { budget: 1e12 } : {}) },
    });
    let level = [root.json().key.raw_key as string];
    for (const budget of [1e11, 1e10, 1e9]) {
      const next: string[] = [];
      for (const parent of level) for (let c = 0; c < 10; c++) next.push(await derive(parent, budgets ? budget : undefined));
      level = next;
    }
    return level;
  };
  const leaves = await tree(false);
  const budgeted = await tree(true);

  // Baseline: what any verify must at least do, a hash and a map look-up.
  const map = new Map(raws.map((r) => [hash('sha256', r, 'base64'), { id: r.slice(-6) }]));
  let i = 0;
  const bare = () => map.get(hash('sha256', raws[i++ % KEYS] as string, 'base64'));

  const verifier = kw.ctx.verifier;
  for (const raw of raws) await verifier.verify({ key: raw }); // warm the cache
  let j = 0;
  const hit = () => verifier.verify({ key: raws[j++ % KEYS] as string });

  const missVerifier = new (verifier.constructor as typeof import('../packages/server/src/index.js').Verifier)({
    ...(verifier as unknown as { deps: ConstructorParameters<typeof import('../packages/server/src/index.js').Verifier>[0] }).deps,
    cache: new (await import('../packages/server/src/verify/key-cache.js')).KeyCache(
      { maxEntries: 1, ttlMs: 60_000 },
      () => config.plans.free as never,
      kw.ctx.environments,
    ),
  });
  let k = 0;
  const miss = () => missVerifier.verify({ key: raws[k++ % KEYS] as string });
  for (const leaf of [...leaves, ...budgeted]) await verifier.verify({ key: leaf }); // warm the cache, seed every budget
  let t = 0;
  const treeHit = () => verifier.verify({ key: leaves[t++ % leaves.length] as string });
  let b4 = 0;
  const budgetHit = () => verifier.verify({ key: budgeted[b4++ % budgeted.length] as string });
  let u = 0;
  const treeMiss = () => missVerifier.verify({ key: leaves[u++ % leaves.length] as string });

  const runs = {
    bare: [] as number[],
    hit: [] as number[],
    miss: [] as number[],
    treeHit: [] as number[],
    treeMiss: [] as number[],
    budgetHit: [] as number[],
  };
  for (let round = 0; round < 3; round++) {
    runs.bare.push(await opsPerSecond(bare));
    runs.hit.push(await opsPerSecond(hit));
    runs.miss.push(await opsPerSecond(miss));
    runs.treeHit.push(await opsPerSecond(treeHit));
    runs.treeMiss.push(await opsPerSecond(treeMiss));
    runs.budgetHit.push(await opsPerSecond(budgetHit));
  }
  await kw.close();
  return {
    bare: median(runs.bare),
    hit: median(runs.hit),
    miss: median(runs.miss),
    treeHit: median(runs.treeHit),
    treeMiss: median(runs.treeMiss),
    budgetHit: median(runs.budgetHit),
  };
}

const UNLIMITED = { plans: { free: { requests_per_minute: null, monthly_requests: null, max_active_keys: null } } };
const JSON_TYPE = { 'content-type': 'application/json' };

/** Signs up on a server and creates `n` keys there; returns their raw keys. */
async function keysOn(base: string, n: number): Promise<string[]> {
  const s = await fetch(`${base}/api/auth/signup`, {
    method: 'POST',
    headers: JSON_TYPE,
    body: JSON.stringify({ email: `b${Math.random().toString(36).slice(2, 8)}@example.com`, password: 'bench password 1' }),
  });
  const cookie = (s.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const keys: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = await fetch(`${base}/api/developers/keys`, {
      method: 'POST',
      headers: { ...JSON_TYPE, cookie },
      body: JSON.stringify({ name: `bench ${i}`, scope: 'read' }),
    });
    keys.push(((await c.json()) as { key: { raw_key: string } }).key.raw_key);
  }
  return keys;
}

/** The tail: p50 and p99 at a fixed rate of the three routes, alternating, medians of 3 rounds of 5 s. */
async function tail(rate: number) {
  const { base, proc } = await startServer();
  try {
    const [key] = await keysOn(base, 1);
    const routes = {
      health: [`${base}/health`, {}],
      whoami: [`${base}/v1/whoami`, { headers: { authorization: `Bearer ${key}` } }],
      verify: [`${base}/v1/keys/verify`, { method: 'POST', headers: JSON_TYPE, body: JSON.stringify({ key }) }],
    } as const;
    await load(routes.health[0], { seconds: 1, connections: 20, rate });
    const runs = {
      health: [] as { p50: number; p99: number }[],
      whoami: [] as { p50: number; p99: number }[],
      verify: [] as { p50: number; p99: number }[],
    };
    for (let round = 0; round < 3; round++) {
      for (const name of ['health', 'whoami', 'verify'] as const) {
        const [url, opts] = routes[name];
        runs[name].push(await load(url, { ...opts, seconds: 5, connections: 20, rate }));
      }
    }
    const med = (name: keyof typeof runs) => ({ p50: median(runs[name].map((r) => r.p50)), p99: median(runs[name].map((r) => r.p99)) });
    return { health: med('health'), whoami: med('whoami'), verify: med('verify') };
  } finally {
    proc.kill('SIGTERM');
  }
}

/**
 * Verify over HTTP with every look-up missing the cache vs cached verify, on two servers of one database: one with a
 * cache of one entry, one with the default. 1,000 keys, a different one each request, 32 connections.
 */
async function missPath(kind: 'sqlite' | 'postgres', env: Record<string, string>) {
  const dataDir = mkdtempSync(join(tmpdir(), 'kw-bench-shared-'));
  const warm = await startServer({ env, dataDir });
  const cold = await startServer({ env, dataDir, config: { ...UNLIMITED, cache: { max_entries: 1, ttl_seconds: 60 } } });
  try {
    const keys = await keysOn(warm.base, KEYS);
    const bodies = keys.map((key) => JSON.stringify({ key }));
    const opts = { method: 'POST', headers: JSON_TYPE, bodies };
    await load(`${warm.base}/v1/keys/verify`, { ...opts, seconds: 1 });
    await load(`${cold.base}/v1/keys/verify`, { ...opts, seconds: 1 });
    const runs = { cached: [] as number[], miss: [] as number[] };
    let errors = 0;
    for (let round = 0; round < 3; round++) {
      const c = await load(`${warm.base}/v1/keys/verify`, opts);
      const m = await load(`${cold.base}/v1/keys/verify`, opts);
      runs.cached.push(c.rps);
      runs.miss.push(m.rps);
      errors += c.non2xx + m.non2xx;
    }
    return { kind, cached: median(runs.cached), miss: median(runs.miss), errors };
  } finally {
    warm.proc.kill('SIGTERM');
    cold.proc.kill('SIGTERM');
  }
}

/** A fresh PostgreSQL database for the miss path, or null (with why) when PostgreSQL does not answer. */
async function freshPostgres(): Promise<{ url: string; drop: () => Promise<void> } | string> {
  const admin = process.env.KEYWARD_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
  const name = `kw_bench_${Math.random().toString(36).slice(2, 10)}`;
  const client = new pg.Client({ connectionString: admin, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query(`CREATE DATABASE ${name}`);
  } catch (error) {
    await client.end().catch(() => {});
    return `${(error as Error).message} (${admin.replace(/:[^:@/]*@/, ':***@')})`;
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await client.end();
    },
  };
}

async function overHttp() {
  const { base, proc } = await startServer();
  try {
    const json = { 'content-type': 'application/json' };
    const s = await fetch(`${base}/api/auth/signup`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ email: 'b@example.com', password: 'bench password 1' }),
    });
    const cookie = (s.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const c = await fetch(`${base}/api/developers/keys`, {
      method: 'POST',
      headers: { ...json, cookie },
      body: JSON.stringify({ name: 'bench', scope: 'read' }),
    });
    const key = ((await c.json()) as { key: { raw_key: string } }).key.raw_key;
    await load(`${base}/health`, { seconds: 1 });
    const runs = { health: [] as number[], whoami: [] as number[], verify: [] as number[] };
    let errors = 0;
    for (let round = 0; round < 3; round++) {
      runs.health.push((await load(`${base}/health`)).rps);
      const w = await load(`${base}/v1/whoami`, { headers: { authorization: `Bearer ${key}` } });
      const v = await load(`${base}/v1/keys/verify`, { method: 'POST', headers: json, body: JSON.stringify({ key }) });
      runs.whoami.push(w.rps);
      runs.verify.push(v.rps);
      errors += w.non2xx + v.non2xx;
    }
    return { health: median(runs.health), whoami: median(runs.whoami), verify: median(runs.verify), errors };
  } finally {
    proc.kill('SIGTERM');
  }
}

const local = await inProcess();
console.log('in-process (medians of 3 alternating runs)');
console.log(row('bare sha256 + Map.get (baseline)', local.bare, local.bare));
console.log(row('verify, cache hit', local.hit, local.bare, '>= 75%'));
console.log(row('verify, cache miss (SQLite look-up)', local.miss, local.bare, '>= 30,000/s'));
console.log(row('3-deep child key, cache hit', local.treeHit, local.bare, '>= 60%'));
console.log(row('3-deep child key, cache miss (+ ancestors)', local.treeMiss, local.bare, '>= 30,000/s'));
console.log(row('3-deep child key, hit, 4 budgets counted', local.budgetHit, local.bare));
const http = await overHttp();
console.log('\nover HTTP, 32 connections (medians of 3 alternating 3 s runs)');
console.log(row('GET /health (baseline)', http.health, http.health));
console.log(row('GET /v1/whoami', http.whoami, http.health, '>= 80%'));
console.log(row('POST /v1/keys/verify', http.verify, http.health, '>= 80%'));
if (http.errors) console.log(`\n!! ${http.errors} non-2xx answers under load`);

const RATE = 2000;
const t = await tail(RATE);
console.log(`\nthe tail: ${RATE.toLocaleString('en-US')} requests/s, 20 connections (medians of 3 alternating 5 s runs)`);
for (const [name, label] of [
  ['health', 'GET /health (baseline)'],
  ['whoami', 'GET /v1/whoami'],
  ['verify', 'POST /v1/keys/verify'],
] as const) {
  const r = t[name];
  const ratio = (r.p99 / t.health.p99).toFixed(2);
  console.log(
    `${label.padEnd(46)} p50 ${r.p50.toFixed(1).padStart(5)} ms  p99 ${r.p99.toFixed(1).padStart(5)} ms  ${ratio}x baseline's p99${name === 'health' ? '' : '  (target <= 1.5x)'}`,
  );
}

console.log('\nverify over HTTP, every look-up missing the cache (1,000 keys, a cache of one entry) vs cached, 32 connections');
console.log('(two servers on one database, medians of 3 alternating 3 s runs)');
const results = [await missPath('sqlite', {})];
const database = await freshPostgres();
if (typeof database === 'string') console.log(`PostgreSQL skipped: it does not answer: ${database}`);
else {
  try {
    results.push(await missPath('postgres', { KEYWARD_DATABASE_URL: database.url, KEYWARD_SECRET: 'bench-secret-bench-secret-bench' }));
  } finally {
    await database.drop();
  }
}
for (const r of results) {
  const label = r.kind === 'sqlite' ? 'SQLite' : 'PostgreSQL';
  console.log(row(`${label}: cached verify (baseline)`, r.cached, r.cached));
  console.log(row(`${label}: verify, every look-up a miss`, r.miss, r.cached, '>= 60%'));
  if (r.errors) console.log(`!! ${r.errors} non-2xx answers under load`);
}
