import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyAnswer, whoamiAnswer } from '../src/http/responses.js';
import { Agent, bearer, type Harness, startHarness } from './harness.js';

let h: Harness;
let owner: Agent;
beforeEach(async () => {
  h = await startHarness();
  owner = new Agent(h.app);
  await owner.signup('owner@example.com', { name: 'Ada' });
});
afterEach(() => h.close());

describe('key lifecycle, as a provider’s customer lives it', () => {
  it('signs up into an own organization as its admin, on the default plan', async () => {
    const me = await owner.req('GET', '/api/me');
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({
      user: { email: 'owner@example.com', name: 'Ada' },
      role: 'admin',
      plan: { name: 'free', max_active_keys: 5 },
    });
  });

  it('shows the raw key once, then only its display form', async () => {
    const key = await owner.createKey({ name: 'production-agent' });
    expect(key.raw_key).toMatch(/^kw_test_[0-9A-Za-z]{42}$/);
    expect(key).toMatchObject({
      name: 'production-agent',
      environment: 'test',
      scope: 'write',
      status: 'active',
      last4: key.raw_key.slice(-4),
    });

    const list = await owner.req('GET', '/api/developers/keys');
    expect(list.status).toBe(200);
    expect(list.body.keys).toHaveLength(1);
    const one = await owner.req('GET', `/api/developers/keys/${key.id}`);
    for (const text of [JSON.stringify(list.body), JSON.stringify(one.body)]) {
      expect(text).not.toContain(key.raw_key);
      expect(text).not.toContain('raw_key');
      expect(text).not.toContain('hash');
    }
    expect(one.body.key.display).toBe(`kw_test_…${key.raw_key.slice(-4)}`);
  });

  it('answers whoami for a fresh key and counts it as used', async () => {
    const key = await owner.createKey({ name: 'svc', scope: 'agentic' });
    const who = await owner.req('GET', '/v1/whoami', undefined, bearer(key.raw_key));
    expect(who.status).toBe(200);
    expect(who.body).toMatchObject({ id: key.id, name: 'svc', environment: 'test', scope: 'agentic', limits: { requests_per_minute: 60 } });
    expect(who.headers['ratelimit-limit']).toBe('60');
    await h.keyward.recorder.flush();
    const got = await owner.req('GET', `/api/developers/keys/${key.id}`);
    expect(got.body.key.last_used_at).not.toBeNull();
  });

  it('revokes at once: whoami 401 and verify says REVOKED', async () => {
    const key = await owner.createKey();
    expect((await owner.req('GET', '/v1/whoami', undefined, bearer(key.raw_key))).status).toBe(200);
    const del = await owner.req('DELETE', `/api/developers/keys/${key.id}`);
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ message: 'API key revoked successfully', key: { id: key.id, status: 'revoked' } });
    const who = await owner.req('GET', '/v1/whoami', undefined, bearer(key.raw_key));
    expect(who.status).toBe(401);
    expect(who.body.error.code).toBe('unauthorized');
    const v = await owner.req('POST', '/v1/keys/verify', { key: key.raw_key });
    expect(v.body).toMatchObject({ valid: false, code: 'REVOKED' });
  });

  it('rejects a key once its expiry has passed', async () => {
    const key = await owner.createKey({ expires_at: new Date(h.clock.now() + 60_000).toISOString() });
    expect((await owner.req('GET', '/v1/whoami', undefined, bearer(key.raw_key))).status).toBe(200);
    h.clock.advance(60_001);
    expect((await owner.req('GET', '/v1/whoami', undefined, bearer(key.raw_key))).status).toBe(401);
    expect((await owner.req('POST', '/v1/keys/verify', { key: key.raw_key })).body.code).toBe('EXPIRED');
  });

  it('rotates without downtime: both keys work during the grace period, then only the new one', async () => {
    const old = await owner.createKey({ name: 'rot', scope: 'read', ip_allowlist: ['127.0.0.1/32'], metadata: { team: 'a' } });
    const r = await owner.req('POST', `/api/developers/keys/${old.id}/rotate`, { grace_period_seconds: 3600 });
    expect(r.status).toBe(201);
    const fresh = r.body.key;
    expect(fresh.raw_key).not.toBe(old.raw_key);
    expect(fresh).toMatchObject({
      name: 'rot',
      scope: 'read',
      ip_allowlist: ['127.0.0.1/32'],
      metadata: { team: 'a' },
      rotated_from: old.id,
    });
    expect(r.body.previous).toMatchObject({ id: old.id, rotated_to: fresh.id, status: 'active' });
    for (const k of [old.raw_key, fresh.raw_key]) expect((await owner.req('GET', '/v1/whoami', undefined, bearer(k))).status).toBe(200);
    h.clock.advance(3600_000);
    expect((await owner.req('GET', '/v1/whoami', undefined, bearer(old.raw_key))).status).toBe(401);
    expect((await owner.req('GET', '/v1/whoami', undefined, bearer(fresh.raw_key))).status).toBe(200);
  });

  it('rotation with a grace period of 0 revokes the old key now; the default grace is 24 hours', async () => {
    const a = await owner.createKey();
    await owner.req('POST', `/api/developers/keys/${a.id}/rotate`, { grace_period_seconds: 0 });
    expect((await owner.req('POST', '/v1/keys/verify', { key: a.raw_key })).body.code).toBe('REVOKED');
    const b = await owner.createKey();
    const r = await owner.req('POST', `/api/developers/keys/${b.id}/rotate`, {});
    expect(Date.parse(r.body.previous.expires_at) - h.clock.now()).toBe(86_400_000);
  });

  it('lets an admin-scoped key manage keys as Bearer, acting for its creator', async () => {
    const admin = await owner.createKey({ name: 'automation', scope: 'admin' });
    const robot = new Agent(h.app);
    const made = await robot.req('POST', '/api/developers/keys', { name: 'made-by-key' }, bearer(admin.raw_key));
    expect(made.status).toBe(201);
    const list = await robot.req('GET', '/api/developers/keys', undefined, bearer(admin.raw_key));
    expect(list.body.keys.map((k: { name: string }) => k.name).sort()).toEqual(['automation', 'made-by-key']);
    const audit = await owner.req('GET', '/api/audit');
    expect(audit.body.events[0]).toMatchObject({ action: 'key.created', actor: { type: 'key', id: admin.id } });
  });

  it('keeps an audit trail, newest first, filterable by key', async () => {
    const k = await owner.createKey({ name: 'a' });
    await owner.createKey({ name: 'b' });
    await owner.req('POST', `/api/developers/keys/${k.id}/rotate`, {});
    await owner.req('DELETE', `/api/developers/keys/${k.id}`);
    const all = await owner.req('GET', '/api/audit');
    expect(all.body.events.map((e: { action: string }) => e.action)).toEqual(['key.revoked', 'key.rotated', 'key.created', 'key.created']);
    const one = await owner.req('GET', `/api/audit?key_id=${k.id}`);
    expect(one.body.events.map((e: { action: string }) => e.action)).toEqual(['key.revoked', 'key.rotated', 'key.created']);
  });

  it('answers whoami and verify exactly as /openapi.json promises (those two are written without a run-time check)', async () => {
    const key = await owner.createKey({ name: 'svc', metadata: { team: 'a' } });
    const gone = await owner.createKey({ name: 'gone' });
    await owner.req('DELETE', `/api/developers/keys/${gone.id}`);
    const answers = [
      [whoamiAnswer, await owner.req('GET', '/v1/whoami', undefined, bearer(key.raw_key))],
      [verifyAnswer, await owner.req('POST', '/v1/keys/verify', { key: key.raw_key })],
      [verifyAnswer, await owner.req('POST', '/v1/keys/verify', { key: key.raw_key, scope: 'admin' })],
      [verifyAnswer, await owner.req('POST', '/v1/keys/verify', { key: gone.raw_key })],
      [verifyAnswer, await owner.req('POST', '/v1/keys/verify', { key: `kw_test_${'x'.repeat(42)}` })],
    ] as const;
    expect(answers.map(([, r]) => r.body.valid ?? r.status)).toEqual([200, true, false, false, false]);
    // Parsing strips what the schema does not name and fails on a wrong type: an equal result means neither happened.
    for (const [schema, r] of answers) expect(schema.parse(r.body)).toEqual(r.body);
  });

  it('serves an OpenAPI document of the routes it serves', async () => {
    const doc = await owner.req('GET', '/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe('3.1.0');
    const create = doc.body.paths['/api/developers/keys'].post;
    expect(create.requestBody.content['application/json'].schema.properties.scope.enum).toEqual(['read', 'agentic', 'write', 'admin']);
    expect(doc.body.paths['/v1/keys/verify'].post).toBeDefined();
    expect(doc.body.paths['/api/developers/keys/{id}/rotate'].post.parameters[0].name).toBe('id');
    // Query parameters and answers come from the same zod schemas the routes validate with and answer through.
    const audit = doc.body.paths['/api/audit'].get;
    expect(audit.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`)).toEqual([
      'query:limit',
      'query:cursor',
      'query:key_id',
      'query:before',
      'query:agent',
      'query:key_tree',
    ]);
    const created = create.responses['201'].content['application/json'].schema;
    expect(created.properties.key.required).toContain('raw_key');
    expect(create.responses.default.content['application/json'].schema.$ref).toBe('#/components/schemas/Error');
    expect(doc.body.paths['/api/cli/token'].post.responses.default.content['application/json'].schema.$ref).toBe(
      '#/components/schemas/OAuthError',
    );
    expect(Object.keys(doc.body.components.schemas).sort()).toEqual(['ApiKey', 'Error', 'Me', 'Member', 'OAuthError', 'VerifyAnswer']);
    // The dashboard's pages are not part of the API.
    expect(Object.keys(doc.body.paths).filter((p) => !/^\/(api|v1|\.well-known|health|metrics|openapi)/.test(p))).toEqual([]);
  });
});
