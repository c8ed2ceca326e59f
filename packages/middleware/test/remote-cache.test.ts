import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpAgent } from '../../../test-support/http-agent.js';
import { createKeyward, defineConfig, type Keyward, sqliteStore } from '../../server/src/index.js';
import { type RemoteVerifier, remoteVerifier } from '../src/remote-verifier.js';
import { expressApi, type RunningApi } from './apis.js';

/**
 * The remote verifier's local cache against a real keyward over HTTP, on a SQLite file so that it can be restarted
 * on the same data and port. A fetch that counts what it sends shows when keyward was asked and when it was not.
 */
const CREDENTIAL = 'kwv_remote-cache-suite-credential-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'kw-remote-cache-'));
const config = (port: number) =>
  defineConfig(
    {
      default_plan: 'business',
      plans: {
        free: { requests_per_minute: 5, monthly_requests: null, max_active_keys: null },
        pro: { requests_per_minute: 120, monthly_requests: null, max_active_keys: null },
        business: { requests_per_minute: null, monthly_requests: null, max_active_keys: null },
      },
      verifier_credentials: [{ name: 'remote cache suite', sha256: createHash('sha256').update(CREDENTIAL).digest('hex') }],
    },
    { host: '127.0.0.1', port, dataDir: dir, databaseUrl: null, redisUrl: null, secret: 'remote-cache-suite-secret-0123456789' },
  );

let keyward: Keyward;
let server: string;
let port = 0;
async function startKeyward() {
  keyward = await createKeyward(config(port), { store: sqliteStore(join(dir, 'keyward.db')), logger: pino({ level: 'silent' }) });
  await keyward.app.listen({ port, host: '127.0.0.1' });
  port = (keyward.app.server.address() as AddressInfo).port;
  server = `http://127.0.0.1:${port}`;
}

/** A fetch to keyward that counts verify calls, so a test can see which requests were answered locally. */
function countingFetch() {
  const counts = { verify: 0, usage: 0, leases: 0, returns: 0 };
  const f: typeof fetch = (input, init) => {
    const url = String(input);
    if (url.endsWith('/v1/keys/verify')) counts.verify++;
    if (url.endsWith('/v1/verifier/usage')) counts.usage++;
    if (url.endsWith('/v1/verifier/leases')) counts.leases++;
    if (url.endsWith('/v1/verifier/leases/return')) counts.returns++;
    return fetch(input, init);
  };
  return { counts, fetch: f };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(check: () => boolean | Promise<boolean>, ms: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (await check()) return Date.now() - started;
    await sleep(20);
  }
  throw new Error(`not within ${ms} ms`);
}
const get = async (api: RunningApi, key: string, path = '/things') =>
  fetch(api.base + path, { headers: { authorization: `Bearer ${key}` } }).then(async (r) => ({
    status: r.status,
    headers: r.headers,
    body: (await r.json()) as any,
  }));

describe('remoteVerifier with a verifier credential: the local verdict cache', () => {
  let admin: HttpAgent;
  let api: RunningApi;
  let verifier: RemoteVerifier;
  let counts: ReturnType<typeof countingFetch>['counts'];
  const lines: string[] = [];
  beforeAll(async () => {
    await startKeyward();
    admin = await HttpAgent.newAccount(server, 'cache@example.com');
    const f = countingFetch();
    counts = f.counts;
    verifier = remoteVerifier({
      baseUrl: server,
      credential: CREDENTIAL,
      fetch: f.fetch,
      logger: { warn: (l) => lines.push(l), info: (l) => lines.push(l) },
    });
    api = await expressApi({ verifier, environment: 'test' });
    await until(() => verifier.stats.live, 2000);
  });
  afterAll(async () => {
    await api.close();
    await verifier.close();
    await keyward.close();
  });

  it('asks keyward once for a key without limits and answers the next requests itself, counting every one in usage', async () => {
    const key = await admin.createKey({ name: 'unlimited' });
    const before = counts.verify;
    for (let i = 0; i < 20; i++) expect((await get(api, key.raw_key)).status).toBe(200);
    expect(counts.verify - before).toBe(1);
    await until(async () => (await admin.req('GET', `/api/developers/keys/${key.id}/usage`)).body.month.used >= 20, 3000);
  });

  it('asks once for many concurrent requests with the same key', async () => {
    const key = await admin.newKey({ name: 'concurrent' });
    const before = counts.verify;
    const statuses = await Promise.all(Array.from({ length: 16 }, () => get(api, key).then((r) => r.status)));
    expect(statuses).toEqual(Array(16).fill(200));
    expect(counts.verify - before).toBe(1);
  });

  it('refuses a key within a second of its revocation, and a child key when its parent is revoked', async () => {
    const parent = await admin.createKey({ name: 'parent' });
    const child = await admin.req('POST', '/v1/keys/derive', { name: 'child' }, { authorization: `Bearer ${parent.raw_key}` });
    expect(child.status).toBe(201);
    expect((await get(api, parent.raw_key)).status).toBe(200);
    expect((await get(api, child.body.key.raw_key)).status).toBe(200);
    expect((await admin.req('DELETE', `/api/developers/keys/${parent.id}`)).status).toBe(200);
    expect(await until(async () => (await get(api, parent.raw_key)).status === 401, 1000)).toBeLessThan(1000);
    expect((await get(api, child.body.key.raw_key)).status).toBe(401);
  });

  it('answers a limited key from leased allowances, never letting more through than its limit', async () => {
    const key = await admin.createKey({ name: 'leased', tier: 'pro' });
    const before = { ...counts };
    const started = Date.now();
    const replies = [];
    for (let i = 0; i < 200; i++) replies.push(await get(api, key.raw_key));
    // The minute's 120, plus one per half second it took (the limit refills as it goes), most answered here; a few
    // may go unused while a lease holds them (never more than a tenth of the limit).
    const allowed = replies.filter((r) => r.status === 200).length;
    expect(allowed).toBeGreaterThanOrEqual(108);
    expect(allowed).toBeLessThanOrEqual(120 + Math.ceil((Date.now() - started) / 500));
    expect(counts.leases - before.leases).toBeGreaterThan(0);
    expect(counts.verify - before.verify).toBeLessThan(140);
    for (const r of replies.filter((r) => r.status !== 200)) {
      expect(r.status).toBe(429);
      expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
    }
    // Every request answered here is counted in the key's usage too.
    await until(async () => (await admin.req('GET', `/api/developers/keys/${key.id}/usage`)).body.month.used >= allowed, 3000);
  });

  it('holds a limit across two API processes under concurrent load: never more, and at most a tenth refused early', async () => {
    const key = await admin.createKey({ name: 'two processes', tier: 'pro' });
    const other = remoteVerifier({ baseUrl: server, credential: CREDENTIAL });
    const otherApi = await expressApi({ verifier: other, environment: 'test' });
    try {
      await until(() => other.stats.live, 2000);
      const started = Date.now();
      const statuses: number[] = [];
      // 300 requests, 20 at a time, alternating between the two processes.
      for (let round = 0; round < 15; round++) {
        const batch = Array.from({ length: 20 }, (_, i) => get(i % 2 ? otherApi : api, key.raw_key).then((r) => r.status));
        statuses.push(...(await Promise.all(batch)));
      }
      const allowed = statuses.filter((s) => s === 200).length;
      expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
      expect(allowed).toBeLessThanOrEqual(120 + Math.ceil((Date.now() - started) / 500));
      expect(allowed).toBeGreaterThanOrEqual(108);
    } finally {
      await otherApi.close();
      await other.close();
    }
  });

  it('spends a budget from leased credits: a route of cost 5 gets exactly budget / 5 requests', async () => {
    const key = await admin.createKey({ name: 'budget', budget: 200 });
    const statuses: number[] = [];
    for (let i = 0; i < 50; i++) statuses.push((await get(api, key.raw_key, '/expensive')).status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(40);
    expect(new Set(statuses.slice(40))).toEqual(new Set([402]));
    // What was spent here is what keyward counts as spent.
    await until(async () => (await admin.req('GET', `/api/developers/keys/${key.id}/usage`)).body.budget?.used === 200, 3000);
  });

  it('still holds a key of 5 a minute to 5 (a lease of it is a single request)', async () => {
    const key = await admin.newKey({ name: 'limited', tier: 'free' });
    const replies = [];
    for (let i = 0; i < 8; i++) replies.push(await get(api, key));
    expect(replies.filter((r) => r.status === 200)).toHaveLength(5);
    for (const r of replies.filter((r) => r.status === 429)) expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
  });

  it('refuses a revoked limited key within a second although it holds an allowance, and gives the allowance back', async () => {
    const key = await admin.createKey({ name: 'leased then revoked', tier: 'pro' });
    for (let i = 0; i < 30; i++) expect((await get(api, key.raw_key)).status).toBe(200);
    await until(() => verifier.stats.leased > 0, 2000);
    const returns = counts.returns;
    expect((await admin.req('DELETE', `/api/developers/keys/${key.id}`)).status).toBe(200);
    expect(await until(async () => (await get(api, key.raw_key)).status === 401, 1000)).toBeLessThan(1000);
    await until(() => counts.returns > returns, 2000);
  });

  it('gives back what it holds when it closes, so another process can use it', async () => {
    const key = await admin.createKey({ name: 'returned on close', tier: 'pro' });
    const own = remoteVerifier({ baseUrl: server, credential: CREDENTIAL });
    const ownApi = await expressApi({ verifier: own, environment: 'test' });
    await until(() => own.stats.live, 2000);
    const started = Date.now();
    for (let i = 0; i < 20; i++) expect((await get(ownApi, key.raw_key)).status).toBe(200);
    await until(() => own.stats.leased > 0, 2000);
    await ownApi.close();
    await own.close();
    // The other process (this suite's verifier) gets all but the 20 used.
    let allowed = 0;
    for (let i = 0; i < 120; i++) if ((await get(api, key.raw_key)).status === 200) allowed++;
    expect(allowed).toBeGreaterThanOrEqual(100 - 12);
    expect(allowed).toBeLessThanOrEqual(100 + Math.ceil((Date.now() - started) / 500));
  });

  it('rides out a keyward outage on recent verdicts, says so once, and drops everything after keyward restarts', async () => {
    const warmed = await admin.createKey({ name: 'warmed' });
    const unseen = await admin.newKey({ name: 'unseen' });
    expect((await get(api, warmed.raw_key)).status).toBe(200);
    lines.length = 0;
    await keyward.close();
    for (let i = 0; i < 5; i++) expect((await get(api, warmed.raw_key)).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await get(api, unseen)).status).toBe(503);
    expect(lines.filter((l) => /cannot be reached/.test(l))).toHaveLength(1);
    expect(lines.join('\n')).not.toContain(warmed.raw_key);

    await startKeyward();
    await until(() => verifier.stats.live, 3000);
    expect(lines.filter((l) => /answers again/.test(l))).toHaveLength(1);
    // A verdict from before the restart is not reused: the revocation made now is seen at once.
    expect((await admin.req('DELETE', `/api/developers/keys/${warmed.id}`)).status).toBe(200);
    expect(await until(async () => (await get(api, warmed.raw_key)).status === 401, 1000)).toBeLessThan(1000);
  });
});

describe('remoteVerifier without the local cache', () => {
  it('asks keyward about every request when told localCache: false', async () => {
    const f = countingFetch();
    const verifier = remoteVerifier({ baseUrl: server, credential: CREDENTIAL, fetch: f.fetch, localCache: false });
    await startKeyward();
    const admin = await HttpAgent.newAccount(server, 'nocache@example.com');
    const api = await expressApi({ verifier, environment: 'test' });
    try {
      const key = await admin.newKey({ name: 'asked every time' });
      for (let i = 0; i < 5; i++) expect((await get(api, key)).status).toBe(200);
      expect(f.counts.verify).toBe(5);
      expect(verifier.stats.entries).toBe(0);
    } finally {
      await api.close();
      await verifier.close();
      await keyward.close();
    }
  });
});
