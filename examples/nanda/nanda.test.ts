import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { remoteVerifier } from '../../packages/middleware/src/index.js';
import { HttpAgent, listening, request, startKeyward } from '../support.js';
import { nandaRegistry } from './app.js';
import { nandaConfig } from './config.js';

/** Walks the NANDA "Developer API Keys" page, claim by claim. */
describe('NANDA agent registry protected by keyward', () => {
  let keyward: Awaited<ReturnType<typeof startKeyward>>;
  const servers: Server[] = [];
  let registry: string;
  let transition: string;
  let transitionStats: { anonymous: number };
  let owner: HttpAgent;

  beforeAll(async () => {
    keyward = await startKeyward({
      ...nandaConfig,
      plans: { ...nandaConfig.plans, free: { ...nandaConfig.plans.free, monthly_requests: 6 } },
    });
    const strict = nandaRegistry(remoteVerifier({ baseUrl: keyward.url }), { keysRequired: true });
    const soft = nandaRegistry(remoteVerifier({ baseUrl: keyward.url }), { keysRequired: false });
    for (const app of [strict.app, soft.app]) {
      servers.push(
        await new Promise<Server>((ok) => {
          const s = app.listen(0, '127.0.0.1', () => ok(s));
        }),
      );
    }
    registry = listening(servers[0] as Server);
    transition = listening(servers[1] as Server);
    transitionStats = soft.stats;
    owner = await HttpAgent.newAccount(keyward.url, 'dev@nexartis.example');
  });
  afterAll(async () => {
    for (const s of servers) s.close();
    await keyward.keyward.close();
  });

  it('GET / answers JSON that names the registry and its routes, not an HTML 404', async () => {
    const r = await request(registry, 'GET', '/');
    expect(r.status).toBe(200);
    expect(r.body.example).toBe('nanda');
    expect(r.body.routes).toContainEqual({ method: 'POST', path: '/register', needs: expect.stringContaining('key') });
  });

  it('read endpoints are always open, no key required', async () => {
    for (const path of ['/list', '/search?q=x', '/agentfacts/none', '/health', '/stats', '/reputation']) {
      expect((await request(registry, 'GET', path)).status, path).toBe(200);
    }
    expect((await request(registry, 'GET', '/lookup/nobody')).status).toBe(404);
  });

  it('generates a nanda_ key via the API with the session cookie, shown once', async () => {
    const r = await owner.req('POST', '/api/developers/keys', { name: 'my-agent-key' });
    expect(r.status).toBe(201);
    expect(r.body.key.raw_key).toMatch(/^nanda_[0-9A-Za-z]{42}$/);
    const list = await owner.req('GET', '/api/developers/keys');
    expect(JSON.stringify(list.body)).not.toContain(r.body.key.raw_key);
  });

  it('write endpoints need a key: without one 401, with one they work', async () => {
    const key = (await owner.createKey({ name: 'writer', tier: 'free' })).raw_key;
    expect(
      (await request(registry, 'POST', '/register', undefined, { agent_id: 'my-agent', agent_url: 'https://my-agent.example.com' })).status,
    ).toBe(401);
    const reg = await request(registry, 'POST', '/register', key, { agent_id: 'my-agent', agent_url: 'https://my-agent.example.com' });
    expect(reg.status).toBe(201);
    expect((await request(registry, 'PUT', '/agentfacts/my-agent', key, { skills: ['search'] })).status).toBe(200);
    expect((await request(registry, 'GET', '/lookup/my-agent')).body.facts).toEqual({ skills: ['search'] });
    expect((await request(registry, 'DELETE', '/agents/my-agent', key)).status).toBe(200);
  });

  it('in the transition period a keyless write passes and is counted; a bad key is still rejected', async () => {
    const before = transitionStats.anonymous;
    const r = await request(transition, 'POST', '/register', undefined, {
      agent_id: 'knowyourmodel',
      agent_url: 'https://kym.example.com',
    });
    expect(r.status).toBe(201);
    expect(transitionStats.anonymous).toBe(before + 1);
    expect((await request(transition, 'GET', '/stats')).body.anonymous_writes).toBe(before + 1);
    expect((await request(transition, 'POST', '/register', `nanda_${'x'.repeat(42)}`, { agent_id: 'a', agent_url: 'b' })).status).toBe(401);
  });

  it('keys over their monthly limit get 429; revoked keys cannot be un-revoked; expired keys are rejected', async () => {
    const k = await owner.createKey({ name: 'quota' });
    const codes = [];
    for (let i = 0; i < 7; i++) codes.push((await request(registry, 'DELETE', `/agents/none-${i}`, k.raw_key)).status);
    expect(codes).toEqual([404, 404, 404, 404, 404, 404, 429]);
    const denied = await request(registry, 'DELETE', '/agents/x', k.raw_key);
    expect(denied.body.error.code).toBe('quota_exceeded');
    expect(Number(denied.headers.get('retry-after'))).toBeGreaterThan(0);

    expect((await owner.req('DELETE', `/api/developers/keys/${k.id}`)).body.message).toBe('API key revoked successfully');
    expect((await owner.req('DELETE', `/api/developers/keys/${k.id}`)).body.key.status).toBe('revoked');
    expect((await request(registry, 'POST', '/register', k.raw_key, { agent_id: 'a', agent_url: 'b' })).status).toBe(401);

    const expiresAt = Date.now() + 3000;
    const soon = await owner.createKey({ name: 'short', expires_at: new Date(expiresAt).toISOString() });
    expect((await request(registry, 'DELETE', '/agents/none', soon.raw_key)).status).toBe(404);
    await new Promise((r) => setTimeout(r, expiresAt - Date.now() + 100));
    expect((await request(registry, 'DELETE', '/agents/none', soon.raw_key)).status).toBe(401);
  });

  it('caps active keys per tier: a sixth active key on the free tier is refused', async () => {
    const fresh = await HttpAgent.newAccount(keyward.url, 'cap@nexartis.example');
    for (let i = 0; i < 5; i++) await fresh.createKey({ name: `k${i}` });
    const sixth = await fresh.req('POST', '/api/developers/keys', { name: 'k5' });
    expect(sixth.status).toBe(409);
    expect(sixth.body.error.message).toMatch(/allows 5 active keys/);
  });
});
