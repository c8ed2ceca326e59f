import { describe, expect, it } from 'vitest';
import { planForKey } from './config.js';
import { defineConfig } from './load-config.js';

const runtime = {
  host: '127.0.0.1',
  port: 8787,
  dataDir: '/tmp/x',
  databaseUrl: null,
  redisUrl: null,
  secret: 'a-secret-of-enough-length',
};

describe('defineConfig', () => {
  it('fills in the seeds’ plans and the default environments, and merges a partial plan', () => {
    const c = defineConfig({ plans: { free: { requests_per_minute: 5 } } }, runtime);
    expect(c.plans.free).toEqual({ requestsPerMinute: 5, monthlyRequests: 1000, maxActiveKeys: 5 });
    expect(c.plans.business).toEqual({ requestsPerMinute: 2000, monthlyRequests: 100_000, maxActiveKeys: null });
    expect(c.environments.map((e) => e.prefix)).toEqual(['kw_test_', 'kw_live_']);
    expect(c.defaultPlan).toBe('enterprise');
    expect(c.publicUrl).toBe('http://127.0.0.1:8787');
  });

  it('refuses bad values with a message that names them', () => {
    expect(() => defineConfig({ plans: { free: { requests_per_minute: 'lots' } } }, runtime)).toThrow(/plans\.free\.requests_per_minute/);
    expect(() => defineConfig({ default_plan: 'gold' }, runtime)).toThrow(/default_plan "gold"/);
    expect(() =>
      defineConfig(
        {
          environments: [
            { name: 'a', prefix: 'x_' },
            { name: 'b', prefix: 'x_' },
          ],
        },
        runtime,
      ),
    ).toThrow(/prefixes must be unique/);
    expect(() => defineConfig({ environments: [{ name: 'a', prefix: 'has space' }] }, runtime)).toThrow(/environments/);
    expect(() => defineConfig({ colour: 'blue' }, runtime)).toThrow(/colour/);
    expect(() => defineConfig({}, { ...runtime, secret: 'short' })).toThrow(/16 characters/);
    expect(() => defineConfig({ trusted_proxies: ['not-an-ip'] }, runtime)).toThrow(/trusted_proxies/);
  });
});

describe('planForKey', () => {
  const c = defineConfig({}, runtime);
  it('uses the key’s tier, capped by its organization’s current plan', () => {
    expect(planForKey(c, { tier: 'free', orgPlan: 'business' }).requestsPerMinute).toBe(60);
    expect(planForKey(c, { tier: 'pro', orgPlan: 'free' }).requestsPerMinute).toBe(60);
    expect(planForKey(c, { tier: 'gone-from-config', orgPlan: 'pro' }).requestsPerMinute).toBe(500);
  });
});
