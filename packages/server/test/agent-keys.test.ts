import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqliteStore } from '../src/storage/sqlite-store.js';
import { Agent, bearer, type Harness, startHarness } from './harness.js';
import { freshPostgresDatabase, postgresUrl } from './postgres.js';

const redisUrl = process.env.KEYWARD_TEST_REDIS_URL ?? null;
const HOUR = 3_600_000;

/** A port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** A person signed up on this instance (the owner of a new organization). */
async function owner(h: Harness, email: string) {
  const a = new Agent(h.app);
  await a.signup(email);
  return a;
}

function derive(h: Harness, key: string, body: Record<string, unknown> = {}) {
  return new Agent(h.app).req('POST', '/v1/keys/derive', body, bearer(key));
}

function whoami(h: Harness, key: string) {
  return new Agent(h.app).req('GET', '/v1/whoami', undefined, bearer(key));
}

function verify(h: Harness, body: Record<string, unknown>) {
  return new Agent(h.app).req('POST', '/v1/keys/verify', body);
}

describe('child keys: derived by a key, at most its parent, revoked with it', () => {
  let h: Harness;
  let a: Agent;
  beforeAll(async () => {
    h = await startHarness({ default_plan: 'pro', delegation: { max_children: 3 } });
    a = await owner(h, 'agents@example.com');
  });
  afterAll(() => h.close());

  it('a write key derives a read child for ten minutes, in its environment and organization, recording parent and agent', async () => {
    const parent = await a.createKey({ name: 'orchestrator', scope: 'write', expires_at: new Date(h.clock.now() + HOUR).toISOString() });
    const r = await derive(h, parent.raw_key, { scope: 'read', ttl: 600, agent: 'researcher' });
    expect(r.status).toBe(201);
    expect(r.headers['cache-control']).toBe('no-store');
    const child = r.body.key;
    expect(child).toMatchObject({ scope: 'read', parent_id: parent.id, depth: 1, agent: 'researcher', environment: 'test' });
    expect(child.expires_at).toBe(new Date(h.clock.now() + 600_000).toISOString());
    const who = await whoami(h, child.raw_key);
    expect(who.status).toBe(200);
    expect(who.body).toMatchObject({ scope: 'read', parent_id: parent.id, agent: 'researcher', depth: 1 });
    expect(who.body.organization).toEqual((await whoami(h, parent.raw_key)).body.organization);
    const audit = await a.req('GET', `/api/audit?key_id=${child.id}`);
    expect(audit.body.events[0]).toMatchObject({ action: 'key.derived', actor: { type: 'key', id: parent.id } });
  });

  it("asking for more than the parent has is a 403 naming the field; a longer life is cut to the parent's", async () => {
    const parent = await a.createKey({ name: 'narrow', scope: 'write', expires_at: new Date(h.clock.now() + HOUR).toISOString() });
    const child = (await derive(h, parent.raw_key, { scope: 'read' })).body.key;
    const wider = await derive(h, child.raw_key, { scope: 'write' });
    expect(wider.status).toBe(403);
    expect(wider.body.error).toMatchObject({ code: 'forbidden', field: 'scope', allowed_scope: 'read' });
    const hour = await a.createKey({ name: 'an hour', expires_at: new Date(h.clock.now() + HOUR).toISOString() });
    const parentEnd = new Date(h.clock.now() + HOUR).toISOString();
    expect((await derive(h, hour.raw_key, { ttl: 7200 })).body.key.expires_at).toBe(parentEnd);
    expect((await derive(h, hour.raw_key, { expires_at: '2099-01-01' })).body.key.expires_at).toBe(parentEnd);
    // Without a ttl the child gets the default day, cut to the parent's hour too.
    expect((await derive(h, hour.raw_key, {})).body.key.expires_at).toBe(parentEnd);
    expect((await derive(h, parent.raw_key, { expires_at: '2020-01-01' })).body.error.field).toBe('expires_at');
    const capped = await a.createKey({ name: 'capped', budget: 50, ip_allowlist: ['10.0.0.0/8'] });
    expect((await derive(h, capped.raw_key, { budget: 51 })).status).toBe(403);
  });

  it("caps the IP allowlist, the limits and the budget at the parent's", async () => {
    const parent = await a.createKey({ name: 'fenced', ip_allowlist: ['127.0.0.0/8'], budget: 40 });
    const over = async (body: Record<string, unknown>) => (await derive(h, parent.raw_key, body)).body.error?.field;
    expect(await over({ ip_allowlist: ['10.0.0.0/8'] })).toBe('ip_allowlist');
    expect(await over({ ip_allowlist: ['127.0.0.0/7'] })).toBe('ip_allowlist');
    expect(await over({ budget: 41 })).toBe('budget');
    expect(await over({ requests_per_minute: 501 })).toBe('requests_per_minute'); // pro plan: 500 a minute
    expect(await over({ monthly_requests: 10_001 })).toBe('monthly_requests');
    const ok = await derive(h, parent.raw_key, { ip_allowlist: ['127.0.0.1'], budget: 40, requests_per_minute: 10 });
    expect(ok.status).toBe(201);
    expect(ok.body.key).toMatchObject({
      ip_allowlist: ['127.0.0.1'],
      budget: 40,
      limits: { requests_per_minute: 10, monthly_requests: null },
    });
    // Inherited when not asked for: the child cannot escape its parent's fence.
    expect((await derive(h, parent.raw_key, {})).body.key.ip_allowlist).toEqual(['127.0.0.0/8']);
  });

  it('stops at delegation.max_depth (3) below a key made by a person', async () => {
    const root = await a.createKey({ name: 'depth', scope: 'write' });
    let raw = root.raw_key;
    for (let level = 1; level <= 3; level++) {
      const r = await derive(h, raw, { ttl: 600 });
      expect(r.status).toBe(201);
      expect(r.body.key.depth).toBe(level);
      raw = r.body.key.raw_key;
    }
    const fourth = await derive(h, raw, { ttl: 600 });
    expect(fourth.status).toBe(403);
    expect(fourth.body.error.field).toBe('depth');
  });

  it('children do not count towards the plan, but a key has at most delegation.max_children active ones', async () => {
    const e = await owner(h, 'children@example.com');
    const parent = await e.createKey({ name: 'many children' });
    for (let i = 0; i < 3; i++) expect((await derive(h, parent.raw_key, { ttl: 60 })).status).toBe(201);
    const fourth = await derive(h, parent.raw_key, { ttl: 60 });
    expect(fourth.status).toBe(409);
    expect(fourth.body.error.message).toContain('delegation.max_children');
    // Four active keys, one of them counted towards the plan.
    expect((await e.req('GET', '/api/developers/keys')).body.keys.filter((k: { status: string }) => k.status === 'active')).toHaveLength(4);
    expect(await h.keyward.store.countActiveKeys(parent.organization_id as string, h.clock.now(), null)).toBe(1);
    h.clock.advance(61_000);
    expect((await derive(h, parent.raw_key, { ttl: 60 })).status).toBe(201); // the expired ones no longer count
  });

  it('revoking a key revokes its whole subtree at once, even where the children were cached', async () => {
    const b = await owner(h, 'subtree@example.com');
    const parent = await b.createKey({ name: 'root', scope: 'write' });
    const child = (await derive(h, parent.raw_key, { ttl: 600 })).body.key;
    const grandchild = (await derive(h, child.raw_key, { ttl: 600 })).body.key;
    const sibling = (await derive(h, parent.raw_key, { ttl: 600 })).body.key;
    for (const k of [child, grandchild, sibling]) expect((await whoami(h, k.raw_key)).status).toBe(200);
    expect((await b.req('DELETE', `/api/developers/keys/${child.id}`)).status).toBe(200);
    const refused = await whoami(h, grandchild.raw_key);
    expect(refused.status).toBe(401);
    expect(refused.body.error.reason).toBe('revoked');
    expect((await b.req('GET', `/api/developers/keys/${grandchild.id}`)).body.key.status).toBe('revoked');
    expect((await whoami(h, sibling.raw_key)).status).toBe(200);
    expect((await whoami(h, parent.raw_key)).status).toBe(200);
    const tree = await b.req('GET', `/api/developers/keys/${parent.id}/tree`);
    const statuses = new Map(tree.body.descendants.map((k: { id: string; status: string }) => [k.id, k.status]));
    expect(statuses).toEqual(
      new Map([
        [child.id, 'revoked'],
        [sibling.id, 'active'],
        [grandchild.id, 'revoked'],
      ]),
    );
    expect(tree.body.descendants.at(-1).id).toBe(grandchild.id); // level by level
  });

  it("a child's requests count under its parent's tree, and usage and audit filter by agent and by tree", async () => {
    const c = await owner(h, 'attribution@example.com');
    const parent = await c.createKey({ name: 'lead', scope: 'write' });
    const child = (await derive(h, parent.raw_key, { scope: 'read', agent: 'crawler' })).body.key;
    const other = (await derive(h, parent.raw_key, { scope: 'read', agent: 'writer' })).body.key;
    for (let i = 0; i < 7; i++) await whoami(h, child.raw_key);
    await whoami(h, other.raw_key);
    const usage = await c.req('GET', `/api/developers/keys/${parent.id}/usage`);
    expect(usage.body.tree).toMatchObject({ keys: 3, allowed: 7 + 1 + 2 }); // the two derive calls were the parent's
    expect(usage.body.month.used).toBe(10); // its monthly quota counts its children
    const crawler = await c.req('GET', `/api/developers/keys/${parent.id}/usage?agent=crawler`);
    expect(crawler.body).toMatchObject({ agent: 'crawler', month: { allowed: 7, used: 7 }, tree: { keys: 1, allowed: 7 } });
    const nobody = await c.req('GET', `/api/developers/keys/${parent.id}/usage?agent=nobody`);
    expect(nobody.body).toMatchObject({ month: { allowed: 0, used: 0 }, tree: { keys: 0, allowed: 0 } });
    const byAgent = await c.req('GET', '/api/audit?agent=crawler');
    expect(byAgent.body.events.map((e: { key_id: string }) => e.key_id)).toEqual([child.id]);
    const byTree = await c.req('GET', `/api/audit?key_tree=${parent.id}`);
    expect(byTree.body.events.map((e: { action: string }) => e.action).sort()).toEqual(['key.created', 'key.derived', 'key.derived']);
    expect((await c.req('GET', '/api/audit?agent=nobody')).body.events).toEqual([]);
  });

  it('labels keys with the agent from the API or the dashboard, carried into audit', async () => {
    const d = await owner(h, 'labels@example.com');
    const key = await d.createKey({ name: 'ci', agent: 'github-actions' });
    expect(key.agent).toBe('github-actions');
    const r = await d.req('PATCH', `/api/developers/keys/${key.id}`, { agent: 'buildkite' });
    expect(r.body.key.agent).toBe('buildkite');
    expect((await whoami(h, key.raw_key)).body.agent).toBe('buildkite');
    expect((await d.req('GET', '/api/audit?agent=buildkite')).body.events.map((e: { action: string }) => e.action)).toContain(
      'key.updated',
    );
  });

  it('a key bound to a resource is refused for another one', async () => {
    const parent = await a.createKey({ name: 'bound parent' });
    const child = (await derive(h, parent.raw_key, { resource: 'https://api.example.com/' })).body.key;
    expect(child.resource).toBe('https://api.example.com/');
    expect((await verify(h, { key: child.raw_key, resource: 'https://api.example.com' })).body.valid).toBe(true);
    const other = await verify(h, { key: child.raw_key, resource: 'https://evil.example.com' });
    expect(other.body).toMatchObject({ valid: false, code: 'WRONG_RESOURCE', reason: 'wrong_resource' });
    expect((await derive(h, child.raw_key, { resource: 'https://other.example.com' })).body.error.field).toBe('resource');
  });
});

describe('budgets: credits per key and per tree, spent by cost, exact under concurrency', () => {
  let h: Harness;
  let a: Agent;
  beforeAll(async () => {
    h = await startHarness({ default_plan: 'business' });
    a = await owner(h, 'budgets@example.com');
  });
  afterAll(() => h.close());

  it('budget 100 at cost 7: calls 1-14 pass, the 15th is 402 budget_exhausted, usage shows 98', async () => {
    const key = await a.createKey({ name: 'metered', budget: 100 });
    const answers = [];
    for (let i = 0; i < 15; i++) answers.push((await verify(h, { key: key.raw_key, cost: 7 })).body);
    expect(answers.slice(0, 14).every((b) => b.valid === true)).toBe(true);
    expect(answers[13].budget).toEqual({ limit: 100, remaining: 2 });
    expect(answers[14]).toMatchObject({ valid: false, code: 'BUDGET_EXHAUSTED', reason: 'budget_exhausted', budget: { remaining: 2 } });
    const usage = await a.req('GET', `/api/developers/keys/${key.id}/usage`);
    expect(usage.body.budget).toEqual({ limit: 100, used: 98, remaining: 2 });
    const first = await whoami(h, key.raw_key);
    expect([first.status, first.headers['budget-remaining'], first.body.budget]).toEqual([200, '1', { limit: 100, remaining: 1 }]);
    expect((await whoami(h, key.raw_key)).headers['budget-remaining']).toBe('0');
    const spent = await whoami(h, key.raw_key);
    expect(spent.status).toBe(402);
    expect(spent.body.error).toMatchObject({ code: 'budget_exhausted', reason: 'budget_exhausted' });
    expect(spent.headers['budget-remaining']).toBe('0');
  });

  it('100 concurrent calls against a budget of 50 allow exactly 50 (in-process limits)', async () => {
    const key = await a.createKey({ name: 'burst', budget: 50 });
    const answers = await Promise.all(Array.from({ length: 100 }, () => verify(h, { key: key.raw_key })));
    expect(answers.filter((r) => r.body.valid === true)).toHaveLength(50);
  });

  it("a child's spending counts towards its parent's budget, and the parent's spent budget stops the child", async () => {
    const parent = await a.createKey({ name: 'wallet', budget: 10 });
    const child = (await derive(h, parent.raw_key, { budget: 9 })).body.key; // the derive call spent 1
    for (let i = 0; i < 3; i++) expect((await verify(h, { key: child.raw_key, cost: 3 })).body.valid).toBe(true);
    const refused = await verify(h, { key: child.raw_key, cost: 1 }); // the parent has 0 left; the child 0 too
    expect(refused.body).toMatchObject({ valid: false, code: 'BUDGET_EXHAUSTED' });
    expect((await verify(h, { key: parent.raw_key, cost: 1 })).body.valid).toBe(false);
    expect((await a.req('GET', `/api/developers/keys/${parent.id}/usage`)).body.budget).toEqual({ limit: 10, used: 10, remaining: 0 });
  });

  it('a free request (cost 0) passes with the budget spent; a restart reads what was spent from storage', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kw-budget-')), 'keyward.db');
    const first = await startHarness({ default_plan: 'business' }, { store: sqliteStore(file) });
    const o = await owner(first, 'restart@example.com');
    const key = await o.createKey({ name: 'zero', budget: 2 });
    expect((await verify(first, { key: key.raw_key, cost: 2 })).body.valid).toBe(true);
    expect((await verify(first, { key: key.raw_key, cost: 0 })).body.valid).toBe(true);
    await first.close();
    const again = await startHarness({ default_plan: 'business' }, { store: sqliteStore(file) });
    try {
      expect((await verify(again, { key: key.raw_key, cost: 1 })).body).toMatchObject({ valid: false, code: 'BUDGET_EXHAUSTED' });
      expect((await verify(again, { key: key.raw_key, cost: 0 })).body.valid).toBe(true);
    } finally {
      await again.close();
    }
  });

  it('budgets.exhausted_status 429 answers quota_exceeded instead', async () => {
    const h429 = await startHarness({ default_plan: 'business', budgets: { exhausted_status: 429 } });
    try {
      const b = await owner(h429, 'b429@example.com');
      const key = await b.createKey({ name: 'tight', budget: 1 });
      expect((await whoami(h429, key.raw_key)).status).toBe(200);
      const spent = await whoami(h429, key.raw_key);
      expect(spent.status).toBe(429);
      expect(spent.body.error).toMatchObject({ code: 'quota_exceeded', reason: 'budget_exhausted' });
    } finally {
      await h429.close();
    }
  });
});

describe('token exchange (RFC 8693) at the token endpoint', () => {
  let h: Harness;
  let a: Agent;
  beforeAll(async () => {
    h = await startHarness({ default_plan: 'free' });
    a = await owner(h, 'exchange@example.com');
  });
  afterAll(() => h.close());

  const exchange = (form: Record<string, string>) =>
    h.app.inject({
      method: 'POST',
      url: '/api/cli/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        ...form,
      }).toString(),
    });

  it('trades a key for a narrower child key, labelled with the client, revoked with its subject', async () => {
    const parent = await a.createKey({ name: 'subject', scope: 'write' });
    const r = await exchange({ subject_token: parent.raw_key, scope: 'read', client_id: 'sub-agent' });
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body).toMatchObject({
      token_type: 'Bearer',
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      scope: 'read',
      expires_in: 86_400,
      key: { parent_id: parent.id, agent: 'sub-agent' },
    });
    expect((await whoami(h, body.access_token)).body.scope).toBe('read');
    await a.req('DELETE', `/api/developers/keys/${parent.id}`);
    expect((await whoami(h, body.access_token)).status).toBe(401);
  });

  it("answers in OAuth's words: invalid_grant for a dead subject, invalid_scope for more scope, invalid_request otherwise", async () => {
    const parent = await a.createKey({ name: 'reader', scope: 'read' });
    const codes = async (form: Record<string, string>) => {
      const r = await exchange(form);
      return [r.statusCode, r.json().error];
    };
    expect(await codes({ subject_token: 'kw_test_nope' })).toEqual([400, 'invalid_grant']);
    expect(await codes({ subject_token: parent.raw_key, scope: 'write' })).toEqual([400, 'invalid_scope']);
    expect(await codes({ subject_token: parent.raw_key, scope: 'read write' })).toEqual([400, 'invalid_scope']);
    expect(await codes({ subject_token: parent.raw_key, subject_token_type: 'urn:x' })).toEqual([400, 'invalid_request']);
    expect(await codes({ subject_token: parent.raw_key, resource: 'not a url' })).toEqual([400, 'invalid_target']);
    const meta = await new Agent(h.app).req('GET', '/.well-known/oauth-authorization-server');
    expect(meta.body.grant_types_supported).toContain('urn:ietf:params:oauth:grant-type:token-exchange');
  });
});

describe('token exchange by a stock OAuth library (oauth4webapi), with no keyward code', () => {
  let h: Harness;
  let base: URL;
  beforeAll(async () => {
    const port = await freePort();
    base = new URL(`http://127.0.0.1:${port}`);
    h = await startHarness({ default_plan: 'free', public_url: base.origin });
    await h.app.listen({ host: '127.0.0.1', port });
  });
  afterAll(() => h.close());

  it('discovers the server (RFC 8414) and exchanges a write key for a read child', async () => {
    const a = await owner(h, 'oauth4webapi@example.com');
    const parent = await a.createKey({ name: 'held by the agent', scope: 'write' });
    const insecure = { [oauth.allowInsecureRequests]: true };
    const as = await oauth.processDiscoveryResponse(base, await oauth.discoveryRequest(base, { algorithm: 'oauth2', ...insecure }));
    expect(as.grant_types_supported).toContain('urn:ietf:params:oauth:grant-type:token-exchange');
    const client = { client_id: 'stock-client' };
    const response = await oauth.genericTokenEndpointRequest(
      as,
      client,
      oauth.None(),
      'urn:ietf:params:oauth:grant-type:token-exchange',
      { subject_token: parent.raw_key, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', scope: 'read' },
      insecure,
    );
    const token = await oauth.processGenericTokenEndpointResponse(as, client, response);
    expect(token).toMatchObject({
      token_type: 'bearer',
      scope: 'read',
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    });
    const who = await fetch(new URL('/v1/whoami', base), { headers: { authorization: `Bearer ${token.access_token}` } });
    expect(await who.json()).toMatchObject({ scope: 'read', parent_id: parent.id, agent: 'stock-client' });
  });
});

const shared = postgresUrl && redisUrl;
if (!shared) console.warn('[skip] agent keys on two instances: set KEYWARD_TEST_DATABASE_URL and KEYWARD_TEST_REDIS_URL (as .ci/run does)');

describe.skipIf(!shared)('two instances sharing PostgreSQL and Redis', () => {
  let db: Awaited<ReturnType<typeof freshPostgresDatabase>>;
  let a: Harness;
  let b: Harness;
  beforeAll(async () => {
    db = await freshPostgresDatabase();
    const runtime = { databaseUrl: db.url, redisUrl: redisUrl ?? '' };
    a = await startHarness({ default_plan: 'business' }, {}, runtime);
    b = await startHarness({ default_plan: 'business' }, {}, runtime);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  it('revoking a parent on one instance makes its child and grandchild answer 401 on the other within a second', async () => {
    const o = await owner(a, 'fleet@example.com');
    const parent = await o.createKey({ name: 'fleet', scope: 'write' });
    const child = (await derive(a, parent.raw_key, { ttl: 600 })).body.key;
    const grandchild = (await derive(a, child.raw_key, { ttl: 600 })).body.key;
    expect([(await whoami(b, child.raw_key)).status, (await whoami(b, grandchild.raw_key)).status]).toEqual([200, 200]);
    expect((await o.req('DELETE', `/api/developers/keys/${parent.id}`)).status).toBe(200);
    const t0 = Date.now();
    const seen: number[] = [];
    for (const k of [child, grandchild]) {
      while ((await whoami(b, k.raw_key)).status === 200 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
      seen.push(Date.now() - t0);
    }
    expect(Math.max(...seen)).toBeLessThan(1000);
  });

  it('100 concurrent calls split over both instances against a budget of 50 allow exactly 50 (Redis)', async () => {
    const o = await owner(a, 'fleet-budget@example.com');
    const key = await o.createKey({ name: 'shared wallet', budget: 50 });
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => verify(i % 2 ? a : b, { key: key.raw_key })));
    expect(answers.filter((r) => r.body.valid === true)).toHaveLength(50);
  });
});
