import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inProcessVerifier } from '../../packages/server/src/index.js';
import { HttpAgent, request, startKeyward } from '../support.js';
import { nomoticApi } from './app.js';
import { nomoticConfig } from './config.js';

/** Walks Nomotic's "Authentication and API Keys" article, claim by claim. */
describe('Nomotic governance API protected by keyward', () => {
  let keyward: Awaited<ReturnType<typeof startKeyward>>;
  let api: Awaited<ReturnType<typeof nomoticApi>>;
  let base: string;
  let admin: HttpAgent;

  beforeAll(async () => {
    keyward = await startKeyward({
      ...nomoticConfig,
      plans: { ...nomoticConfig.plans, free: { ...nomoticConfig.plans.free, requests_per_minute: 8 } },
    });
    api = await nomoticApi(inProcessVerifier(keyward.keyward));
    await api.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(api.server.address() as { port: number }).port}/api/v1`;
    admin = await HttpAgent.newAccount(keyward.url, 'ops@nomotic.example');
  });
  afterAll(async () => {
    await api.close();
    await keyward.keyward.close();
  });

  it('GET / answers without a key: what the API is and each route with the scope it needs', async () => {
    const r = await request(base.replace(/\/api\/v1$/, ''), 'GET', '/');
    expect(r.status).toBe(200);
    expect(r.body.example).toBe('nomotic');
    expect(r.body.routes).toContainEqual({ method: 'PUT', path: '/api/v1/settings', needs: 'a key (admin)' });
  });

  it('every request needs a key; keys start with nm_live_ and are shown once', async () => {
    expect((await request(base, 'GET', '/agents')).status).toBe(401);
    const key = await admin.createKey({ name: 'production-agent', scope: 'agentic' });
    expect(key.raw_key).toMatch(/^nm_live_/);
    expect(JSON.stringify((await admin.req('GET', `/api/developers/keys/${key.id}`)).body)).not.toContain(key.raw_key);
  });

  it('Read: reads only — a Read key cannot submit governance evaluations (403)', async () => {
    const read = (await admin.createKey({ name: 'analytics', scope: 'read' })).raw_key;
    expect((await request(base, 'GET', '/agents', read)).status).toBe(200);
    expect((await request(base, 'GET', '/audit', read)).status).toBe(200);
    const r = await request(base, 'POST', '/evaluations', read, { action: 'pay' });
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('forbidden');
  });

  it('Agentic: evaluations, audit reads and agent status updates, but not managing agents or policies', async () => {
    const agentic = (await admin.createKey({ name: 'sdk', scope: 'agentic' })).raw_key;
    expect((await request(base, 'POST', '/evaluations', agentic, { action: 'pay' })).status).toBe(201);
    expect((await request(base, 'GET', '/audit', agentic)).status).toBe(200);
    expect((await request(base, 'PATCH', '/agents/a1/status', agentic, { status: 'paused' })).status).toBe(200);
    expect((await request(base, 'POST', '/agents', agentic, { id: 'a2' })).status).toBe(403);
    expect((await request(base, 'POST', '/policies', agentic, {})).status).toBe(403);
  });

  it('Write: everything Agentic allows plus managing agents and policies; Admin: full access', async () => {
    const write = (await admin.createKey({ name: 'platform', scope: 'write' })).raw_key;
    expect((await request(base, 'POST', '/evaluations', write, {})).status).toBe(201);
    expect((await request(base, 'POST', '/agents', write, { id: 'a3' })).status).toBe(201);
    expect((await request(base, 'POST', '/policies', write, {})).status).toBe(201);
    expect((await request(base, 'PUT', '/settings', write, {})).status).toBe(403);
    const adminKey = (await admin.createKey({ name: 'internal', scope: 'admin' })).raw_key;
    expect((await request(base, 'PUT', '/settings', adminKey, {})).status).toBe(200);
  });

  it('rotation: create a new key with the same scope, verify it, revoke the old one — revoked is 401 at once', async () => {
    const old = await admin.createKey({ name: 'ci-pipeline', scope: 'write' });
    const next = await admin.createKey({ name: 'ci-pipeline-2', scope: 'write' });
    expect((await request(base, 'GET', '/agents', next.raw_key)).status).toBe(200);
    await admin.req('DELETE', `/api/developers/keys/${old.id}`);
    expect((await request(base, 'GET', '/agents', old.raw_key)).status).toBe(401);
  });

  it('over the plan’s per-minute limit: 429 with Retry-After; RateLimit headers on every answer', async () => {
    const key = (await admin.createKey({ name: 'burst', scope: 'read' })).raw_key;
    const statuses = [];
    let last: Awaited<ReturnType<typeof request>> | undefined;
    for (let i = 0; i < 9; i++) {
      last = await request(base, 'GET', '/agents', key);
      statuses.push(last.status);
      if (i === 0) expect(last.headers.get('ratelimit-limit')).toBe('8');
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 429]);
    expect(last?.body.error.code).toBe('rate_limited');
    expect(Number(last?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(last?.headers.get('retry-after'))).toBeLessThanOrEqual(60);
  });
});
