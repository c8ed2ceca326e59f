import { describe, expect, it } from 'vitest';
import { planForKey } from './config.js';
import { defineConfig, jsonProblem } from './load-config.js';

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

  it('finding: a config with several problems reported one, with no "did you mean"; now every problem at once', () => {
    const problems = () =>
      defineConfig({ defualt_plan: 'free', plans: { free: { requests_per_minute: -5 } }, webhooks: { timeout_second: 3 } }, runtime);
    expect(problems).toThrow(
      [
        'invalid configuration: 3 problems:',
        '  - plans.free.requests_per_minute must be a positive number.',
        '  - webhooks.timeout_second is not a setting keyward knows; did you mean webhooks.timeout_seconds?',
        '  - defualt_plan is not a setting keyward knows; did you mean default_plan?',
      ].join('\n'),
    );
    expect(() => defineConfig({ colour: 'blue' }, runtime)).toThrow('invalid configuration: colour is not a setting keyward knows.');
  });

  it('finding: bad JSON said `at position 26`; now the line and column an editor shows', () => {
    const text = '{\n  "default_plan": "free",\n  "plans": {,}\n}\n';
    const message = (() => {
      try {
        JSON.parse(text);
      } catch (e) {
        return (e as Error).message;
      }
    })() as string;
    expect(jsonProblem(text, message)).toBe("line 3, column 13: expected property name or '}'");
    expect(jsonProblem('{"a": 1', 'Unexpected end of JSON input')).toBe('line 1, column 8: the text ends too early');
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
