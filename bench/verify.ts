/**
 * Verify throughput, each figure beside its baseline measured in the same run:
 *   - in-process verify (cache hit) vs a bare sha256 + Map.get loop over the same keys;
 *   - in-process verify that misses the cache (SQLite) vs the same baseline;
 *   - the same two for keys three levels down a tree of child keys (the look-up reads their ancestors too), and a
 *     cache hit of such keys when every level has a credit budget, so that each request is counted in four budgets;
 *   - POST /v1/keys/verify and GET /v1/whoami on the real server vs its own GET /health.
 * Run: npm run bench:verify
 */
import { hash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
console.log(row('verify, cache hit', local.hit, local.bare, '>= 60%'));
console.log(row('verify, cache miss (SQLite look-up)', local.miss, local.bare, '>= 30,000/s'));
console.log(row('3-deep child key, cache hit', local.treeHit, local.bare, '>= 60%'));
console.log(row('3-deep child key, cache miss (+ ancestors)', local.treeMiss, local.bare, '>= 30,000/s'));
console.log(row('3-deep child key, hit, 4 budgets counted', local.budgetHit, local.bare));
const http = await overHttp();
console.log('\nover HTTP, 32 connections (medians of 3 alternating 3 s runs)');
console.log(row('GET /health (baseline)', http.health, http.health));
console.log(row('GET /v1/whoami', http.whoami, http.health, '>= 60%'));
console.log(row('POST /v1/keys/verify', http.verify, http.health, '>= 50%'));
if (http.errors) console.log(`\n!! ${http.errors} non-2xx answers under load`);
