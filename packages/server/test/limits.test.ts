import { afterEach, describe, expect, it } from 'vitest';
import { Agent, bearer, type Harness, startHarness } from './harness.js';

let h: Harness;
afterEach(() => h?.close());

describe('per-minute limits and monthly quotas', () => {
  it('a free-tier key: the 61st request inside a minute gets 429 with Retry-After and the RateLimit headers', async () => {
    h = await startHarness();
    const a = new Agent(h.app);
    await a.signup('rl@example.com');
    const key = await a.createKey();
    for (let i = 0; i < 60; i++) {
      const r = await a.req('GET', '/v1/whoami', undefined, bearer(key.raw_key));
      expect(r.status).toBe(200);
      expect(r.headers['ratelimit-limit']).toBe('60');
      expect(r.headers['ratelimit-remaining']).toBe(String(59 - i));
      expect(Number(r.headers['ratelimit-reset'])).toBeGreaterThan(0);
    }
    const r = await a.req('GET', '/v1/whoami', undefined, bearer(key.raw_key));
    expect(r.status).toBe(429);
    expect(r.body.error.code).toBe('rate_limited');
    const retry = Number(r.headers['retry-after']);
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(60);
    expect(r.headers['ratelimit-remaining']).toBe('0');
    h.clock.advance(retry * 1000);
    expect((await a.req('GET', '/v1/whoami', undefined, bearer(key.raw_key))).status).toBe(200);
  });

  it('the 1,001st request of the month gets quota_exceeded with Retry-After pointing at 00:00 UTC on the 1st', async () => {
    h = await startHarness({ default_plan: 'free', plans: { free: { requests_per_minute: null } } });
    h.clock.t = Date.UTC(2026, 10, 30, 23, 0, 0);
    const a = new Agent(h.app);
    await a.signup('q@example.com');
    const key = await a.createKey();
    for (let i = 0; i < 1000; i++) {
      const r = await a.req('GET', '/v1/whoami', undefined, bearer(key.raw_key));
      if (r.status !== 200) throw new Error(`request ${i + 1}: ${r.status}`);
    }
    const over = await a.req('GET', '/v1/whoami', undefined, bearer(key.raw_key));
    expect(over.status).toBe(429);
    expect(over.body.error.code).toBe('quota_exceeded');
    expect(Number(over.headers['retry-after'])).toBe(3600);
    const verify = await a.req('POST', '/v1/keys/verify', { key: key.raw_key });
    expect(verify.body).toMatchObject({ valid: false, code: 'QUOTA_EXCEEDED', retry_after: 3600 });
    h.clock.t = Date.UTC(2026, 11, 1, 0, 0, 0);
    expect((await a.req('GET', '/v1/whoami', undefined, bearer(key.raw_key))).status).toBe(200);
  });

  it('every request made with a key counts: whoami and the verify call alike', async () => {
    h = await startHarness({ default_plan: 'free', plans: { free: { requests_per_minute: 3 } } });
    const a = new Agent(h.app);
    await a.signup('count@example.com');
    const key = await a.createKey();
    await a.req('GET', '/v1/whoami', undefined, bearer(key.raw_key));
    await a.req('POST', '/v1/keys/verify', { key: key.raw_key });
    expect((await a.req('POST', '/v1/keys/verify', { key: key.raw_key })).body.valid).toBe(true);
    const v = await a.req('POST', '/v1/keys/verify', { key: key.raw_key });
    expect(v.body).toMatchObject({ valid: false, code: 'RATE_LIMITED' });
    expect(Number(v.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('a key’s tier sets its limits and cannot exceed the organization’s plan', async () => {
    h = await startHarness({ default_plan: 'pro' });
    const a = new Agent(h.app);
    await a.signup('tier@example.com');
    const free = await a.createKey({ tier: 'free' });
    expect((await a.req('GET', '/v1/whoami', undefined, bearer(free.raw_key))).headers['ratelimit-limit']).toBe('60');
    const pro = await a.createKey();
    expect((await a.req('GET', '/v1/whoami', undefined, bearer(pro.raw_key))).headers['ratelimit-limit']).toBe('500');
    const r = await a.req('POST', '/api/developers/keys', { name: 'x', tier: 'business' });
    expect(r.status).toBe(403);
    expect(r.body.error.message).toMatch(/cannot exceed the organization's plan \(pro\)/);
  });

  it('a sixth active key on the free plan is a 409; revoke one and creating works again', async () => {
    h = await startHarness();
    const a = new Agent(h.app);
    await a.signup('max@example.com');
    const keys = [];
    for (let i = 0; i < 5; i++) keys.push(await a.createKey({ name: `k${i}` }));
    const sixth = await a.req('POST', '/api/developers/keys', { name: 'k5' });
    expect(sixth.status).toBe(409);
    expect(sixth.body.error).toMatchObject({ code: 'conflict', message: expect.stringMatching(/free.*5 active keys/) });
    await a.req('DELETE', `/api/developers/keys/${keys[0]?.id}`);
    expect((await a.req('POST', '/api/developers/keys', { name: 'k5' })).status).toBe(201);
  });
});

describe('usage, audit and metrics', () => {
  it('counts allowed and denied requests per key and day, logs requests, and audits refusals', async () => {
    h = await startHarness({ default_plan: 'free', plans: { free: { requests_per_minute: 3 } } });
    const a = new Agent(h.app);
    await a.signup('usage@example.com');
    const key = await a.createKey();
    for (let i = 0; i < 5; i++) await a.req('GET', '/v1/whoami', undefined, bearer(key.raw_key));
    const before = await a.req('GET', `/api/developers/keys/${key.id}/usage`);
    expect(before.body.month).toMatchObject({ allowed: 3, denied: 2, total: 5, used: 3, limit: 1000 });
    await h.keyward.recorder.flush();
    const u = await a.req('GET', `/api/developers/keys/${key.id}/usage`);
    expect(u.body.month).toMatchObject({ allowed: 3, denied: 2, total: 5, resets_at: '2026-12-01T00:00:00.000Z' });
    expect(u.body.minute.limit).toBe(3);
    expect(u.body.daily).toEqual([{ day: '2026-11-23', allowed: 3, denied: 2, credits: 3 }]);
    expect(u.body.recent_requests[0]).toMatchObject({ method: 'GET', path: '/v1/whoami', status: 429, ip: '127.0.0.1' });
    expect(u.body.last_used_at).toBe(new Date(h.clock.now()).toISOString());
    const audit = await a.req('GET', `/api/audit?key_id=${key.id}`);
    expect(audit.body.events[0]).toMatchObject({ action: 'request.denied', data: { code: 'RATE_LIMITED', status: 429 } });
  });

  it('exposes verification counts by result and a latency histogram in Prometheus format', async () => {
    h = await startHarness();
    const a = new Agent(h.app);
    await a.signup('metrics@example.com');
    const key = await a.createKey();
    await a.req('POST', '/v1/keys/verify', { key: key.raw_key });
    // Another last character (a key that already ends in x would otherwise be verified twice).
    await a.req('POST', '/v1/keys/verify', { key: `${key.raw_key.slice(0, -1)}${key.raw_key.endsWith('x') ? 'y' : 'x'}` });
    const m = await h.app.inject({ method: 'GET', url: '/metrics' });
    expect(m.headers['content-type']).toMatch(/text\/plain/);
    expect(m.body).toMatch(/keyward_verifications_total\{result="VALID"\} 1/);
    expect(m.body).toMatch(/keyward_verifications_total\{result="NOT_FOUND"\} 1/);
    expect(m.body).toMatch(/keyward_verify_duration_seconds_count 2/);
  });
});

describe('a key above its organization’s plan', () => {
  it('is shown and enforced at the organization’s plan, on the usage endpoint and the key’s page alike', async () => {
    h = await startHarness({ default_plan: 'business' });
    const a = new Agent(h.app);
    const me = await a.signup('downgrade@example.com');
    const key = await a.createKey({ tier: 'pro' });
    await h.keyward.store.setOrganizationPlan(me.organization.id, 'free');
    expect((await a.req('GET', '/v1/whoami', undefined, bearer(key.raw_key))).headers['ratelimit-limit']).toBe('60');
    const usage = await a.req('GET', `/api/developers/keys/${key.id}/usage`);
    expect(usage.body).toMatchObject({ tier: 'pro', minute: { limit: 60 }, month: { limit: 1000, used: 1 } });
    const page = await h.app.inject({
      method: 'GET',
      url: `/dashboard/keys/${key.id}`,
      headers: { cookie: a.cookie ?? '', accept: 'text/html' },
    });
    expect(page.body).toContain('<strong>60</strong> requests per minute');
    expect(page.body).toContain('<strong>1</strong> of 1,000 requests');
  });
});
