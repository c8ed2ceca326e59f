import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineConfig } from '../src/config/load-config.js';
import { throttleAddress } from '../src/throttle/throttles.js';
import { Agent, bearer, type Harness, startHarness } from './harness.js';

/**
 * Security issue 24 ("Trust, third round"), the abuse throttles: each finding by name, held on counters in this
 * process and (with KEYWARD_TEST_REDIS_URL) on counters shared through Redis.
 */
const redisUrl = process.env.KEYWARD_TEST_REDIS_URL;
if (!redisUrl) console.warn('[skip] throttles over Redis: set KEYWARD_TEST_REDIS_URL to run them');

const from = (ip: string) => ({ 'x-test-remote': ip });
/** An address of this run only: counts an earlier run left in a shared Redis do not matter. */
const octet = () => 1 + Math.floor(Math.random() * 250);
const freshV4 = () => `10.${octet()}.${octet()}.${octet()}`;
const freshV6 = () => `2001:db8:${octet().toString(16)}:${octet().toString(16)}`;
/** A key of this server's form whose checksum is wrong, and text that is no key at all. */
const unknownKey = (i: number) => `sk_live_${String(i).padStart(8, '0')}${'A'.repeat(40)}`;
const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;

const counters = [
  { name: 'in process', runtime: {} },
  { name: 'Redis', runtime: { redisUrl }, enabled: Boolean(redisUrl) },
];

for (const { name, runtime, enabled = true } of counters) {
  describe.skipIf(!enabled)(`trust: throttles are bypassed by parallel requests (${name})`, () => {
    let h: Harness;
    beforeAll(async () => {
      h = await startHarness({ default_plan: 'free' }, {}, runtime);
    });
    afterAll(() => h?.close());

    it('200 parallel failed sign-ins from one address: at most sign_in_per_address (30) are checked, the rest 429', async () => {
      const ip = freshV4();
      const agent = new Agent(h.app);
      const replies = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          agent.req('POST', '/api/auth/login', { email: `spray${i}@example.com`, password: 'Winter2026!' }, from(ip)),
        ),
      );
      const statuses = replies.map((r) => r.status);
      expect(count(statuses, 401)).toBe(30);
      expect(count(statuses, 429)).toBe(170);
      const refused = replies.find((r) => r.status === 429);
      expect(refused?.body.error.code).toBe('rate_limited');
      expect(Number(refused?.headers['retry-after'])).toBeGreaterThan(0);
    });

    it('200 parallel guesses at one account: at most sign_in_per_pair (10) passwords are checked', async () => {
      const ip = freshV4();
      const email = `guessed-${name.replace(' ', '-')}@example.com`;
      await new Agent(h.app).req('POST', '/api/auth/signup', { email, password: 'correct horse battery 9' }, from(freshV4()));
      const agent = new Agent(h.app);
      const statuses = (
        await Promise.all(
          Array.from({ length: 200 }, (_, i) => agent.req('POST', '/api/auth/login', { email, password: `guess ${i}` }, from(ip))),
        )
      ).map((r) => r.status);
      expect(count(statuses, 401)).toBe(10);
      expect(count(statuses, 429)).toBe(190);
    });

    it('300 parallel wrong user codes from one address: at most user_codes (20) are checked', async () => {
      const person = new Agent(h.app);
      await person.req(
        'POST',
        '/api/auth/signup',
        { email: `typist-${name.replace(' ', '-')}@example.com`, password: 'correct horse battery 9' },
        from(freshV4()),
      );
      const ip = freshV4();
      const statuses = (
        await Promise.all(
          Array.from({ length: 300 }, (_, i) =>
            person.req('GET', `/device?user_code=BCDF-${'GHJKLMNP'.slice(i % 4, (i % 4) + 4)}`, undefined, from(ip)),
          ),
        )
      ).map((r) => r.status);
      expect(count(statuses, 400)).toBe(20);
      expect(count(statuses, 429)).toBe(280);
    });

    it('honest people are unaffected: a successful sign-in gives its reservation back, a failure keeps it', async () => {
      const ip = freshV4();
      const email = `honest-${name.replace(' ', '-')}@example.com`;
      const password = 'correct horse battery 9';
      await new Agent(h.app).req('POST', '/api/auth/signup', { email, password }, from(freshV4()));
      const agent = new Agent(h.app);
      for (let i = 0; i < 9; i++)
        expect((await agent.req('POST', '/api/auth/login', { email, password: 'typo' }, from(ip))).status).toBe(401);
      // Twenty right passwords, one after another: each reserves the last unit and gives it back.
      for (let i = 0; i < 20; i++) expect((await agent.req('POST', '/api/auth/login', { email, password }, from(ip))).status).toBe(200);
      expect((await agent.req('POST', '/api/auth/login', { email, password: 'typo' }, from(ip))).status).toBe(401);
      expect((await agent.req('POST', '/api/auth/login', { email, password }, from(ip))).status).toBe(429);
    });

    it('a right user code gives its reservation back: a person approving many devices is not throttled', async () => {
      const person = new Agent(h.app);
      await person.req(
        'POST',
        '/api/auth/signup',
        { email: `approver-${name.replace(' ', '-')}@example.com`, password: 'correct horse battery 9' },
        from(freshV4()),
      );
      const ip = freshV4();
      for (let i = 0; i < 25; i++) {
        const started = await new Agent(h.app).req('POST', '/api/device/code', {}, from(freshV4()));
        const page = await person.req('GET', `/device?user_code=${started.body.user_code}`, undefined, from(ip));
        expect(page.status).toBe(200);
      }
    });
  });

  describe.skipIf(!enabled)(`trust: the unknown-key throttle refuses guesses, not keys (${name})`, () => {
    let h: Harness;
    let used: string;
    let fresh: string;
    beforeAll(async () => {
      h = await startHarness({ default_plan: 'free' }, {}, runtime);
      const owner = new Agent(h.app);
      await owner.req(
        'POST',
        '/api/auth/signup',
        { email: `egress-${name.replace(' ', '-')}@example.com`, password: 'correct horse battery 9' },
        from(freshV4()),
      );
      used = (await owner.createKey({ name: 'used before', scope: 'read' })).raw_key;
      fresh = (await owner.createKey({ name: 'first used after', scope: 'read' })).raw_key;
    });
    afterAll(() => h?.close());

    it('an address that sent too many unknown keys still gets 200 for a valid key, and 429 for every kind of guess', async () => {
      const ip = freshV4();
      const agent = new Agent(h.app);
      expect((await agent.req('GET', '/v1/whoami', undefined, { ...bearer(used), ...from(ip) })).status).toBe(200);
      const statuses: number[] = [];
      for (let i = 0; i < 101; i++)
        statuses.push((await agent.req('GET', '/v1/whoami', undefined, { ...bearer(unknownKey(i)), ...from(ip) })).status);
      expect(statuses.slice(0, 100)).toEqual(Array(100).fill(401));
      expect(statuses[100]).toBe(429);
      // A key in the cache, and one this instance never saw (a storage look-up that finds it), both pass.
      expect((await agent.req('GET', '/v1/whoami', undefined, { ...bearer(used), ...from(ip) })).status).toBe(200);
      expect((await agent.req('GET', '/v1/whoami', undefined, { ...bearer(fresh), ...from(ip) })).status).toBe(200);
      const verified = await agent.req('POST', '/v1/keys/verify', { key: used }, from(ip));
      expect(verified.body.valid).toBe(true);
      // Unknown, malformed and bad-checksum keys from that address are still refused.
      for (const guess of [unknownKey(500), 'not-a-key', `${used.slice(0, -1)}${used.endsWith('A') ? 'B' : 'A'}`]) {
        const r = await agent.req('GET', '/v1/whoami', undefined, { ...bearer(guess), ...from(ip) });
        expect(r.status).toBe(429);
        expect(r.body.error.code).toBe('rate_limited');
      }
      expect((await agent.req('POST', '/v1/keys/verify', { key: unknownKey(501) }, from(ip))).body.code).toBe('RATE_LIMITED');
    });
  });
}

describe('trust: each IPv6 address is its own throttle bucket', () => {
  it('the throttle key of an IPv6 address is its /64; an IPv4-mapped address counts as the IPv4 address', () => {
    expect(throttleAddress('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe(throttleAddress('2001:db8:1:2::1'));
    expect(throttleAddress('2001:0db8:0001:0002:0:0:0:9')).toBe(throttleAddress('2001:db8:1:2::ffff'));
    expect(throttleAddress('2001:db8:1:3::1')).not.toBe(throttleAddress('2001:db8:1:2::1'));
    expect(throttleAddress('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(throttleAddress('::ffff:c000:207')).toBe('192.0.2.7');
    expect(throttleAddress('192.0.2.7')).not.toBe(throttleAddress('192.0.2.8'));
    expect(throttleAddress('fe80::1%eth0')).toBe(throttleAddress('fe80::2'));
    expect(throttleAddress('::1.2.3.4')).toBe('0:0:0:0::/64');
  });

  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ default_plan: 'free' });
  });
  afterAll(() => h?.close());

  it('40 failed sign-ins from 40 addresses of one /64: 429 after 30', async () => {
    const net = freshV6();
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await new Agent(h.app).req(
        'POST',
        '/api/auth/login',
        { email: `v6-${i}@example.com`, password: 'Winter2026!' },
        from(`${net}::${(i + 1).toString(16)}`),
      );
      statuses.push(r.status);
    }
    expect(statuses.slice(0, 30)).toEqual(Array(30).fill(401));
    expect(statuses.slice(30)).toEqual(Array(10).fill(429));
    // The next /64 is another client.
    const other = await new Agent(h.app).req(
      'POST',
      '/api/auth/login',
      { email: 'v6-x@example.com', password: 'Winter2026!' },
      from(`${freshV6()}::1`),
    );
    expect(other.status).toBe(401);
  });

  it('150 unknown keys from 150 addresses of one /64: 429 after 100', async () => {
    const net = freshV6();
    const statuses: number[] = [];
    for (let i = 0; i < 150; i++) {
      const r = await new Agent(h.app).req('GET', '/v1/whoami', undefined, {
        ...bearer(unknownKey(i)),
        ...from(`${net}:${i.toString(16)}::1`),
      });
      statuses.push(r.status);
    }
    expect(statuses.slice(0, 100)).toEqual(Array(100).fill(401));
    expect(statuses.slice(100)).toEqual(Array(50).fill(429));
  });
});

describe('trust: sign-up has no throttle', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ default_plan: 'free' });
  });
  afterAll(() => h?.close());

  it('100 parallel sign-ups from one address: throttles.sign_ups (30 per 15 minutes) are made, the rest 429', async () => {
    const ip = freshV4();
    const replies = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        new Agent(h.app).req('POST', '/api/auth/signup', { email: `bulk${i}@example.com`, password: 'correct horse battery 9' }, from(ip)),
      ),
    );
    const statuses = replies.map((r) => r.status);
    expect(count(statuses, 201)).toBe(30);
    expect(count(statuses, 429)).toBe(70);
    expect(replies.find((r) => r.status === 429)?.body.error.code).toBe('rate_limited');
    // Another address signs up; the address gets one more every 30 seconds.
    expect(
      (
        await new Agent(h.app).req(
          'POST',
          '/api/auth/signup',
          { email: 'elsewhere@example.com', password: 'correct horse battery 9' },
          from(freshV4()),
        )
      ).status,
    ).toBe(201);
    h.clock.advance(30_000);
    expect(
      (
        await new Agent(h.app).req(
          'POST',
          '/api/auth/signup',
          { email: 'later@example.com', password: 'correct horse battery 9' },
          from(ip),
        )
      ).status,
    ).toBe(201);
  });

  it('throttles.sign_ups is a setting like its siblings: a budget, or null to switch it off', () => {
    const runtime = { host: '127.0.0.1', port: 8787, dataDir: '/nonexistent', databaseUrl: null, redisUrl: null, secret: 's'.repeat(32) };
    expect(defineConfig({}, runtime).throttles.signUps).toEqual({ limit: 30, periodMs: 15 * 60_000 });
    expect(defineConfig({ throttles: { sign_ups: { limit: 5, period_seconds: 60 } } }, runtime).throttles.signUps).toEqual({
      limit: 5,
      periodMs: 60_000,
    });
    expect(defineConfig({ throttles: { sign_ups: null } }, runtime).throttles.signUps).toBeNull();
    expect(() => defineConfig({ throttles: { sign_ups: { limit: 0, period_seconds: 60 } } }, runtime)).toThrow(/sign_ups/);
  });
});

describe('trust: POST /v1/keys/check refuses every full batch of scan --check', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ default_plan: 'free' });
  });
  afterAll(() => h?.close());

  it('a full batch of 100 keys from a fresh address answers 200 with 100 answers; a call counts one unit of leak_reports', async () => {
    const ip = freshV4();
    const agent = new Agent(h.app);
    const keys = Array.from({ length: 100 }, (_, i) => unknownKey(i));
    const first = await agent.req('POST', '/v1/keys/check', { keys }, from(ip));
    expect(first.status).toBe(200);
    expect(first.body.keys).toHaveLength(100);
    // 60 calls a minute (leak_reports), whatever their size: the 61st is refused, before any key is looked up.
    for (let i = 1; i < 60; i++) expect((await agent.req('POST', '/v1/keys/check', { keys }, from(ip))).status).toBe(200);
    const refused = await agent.req('POST', '/v1/keys/check', { keys: keys.slice(0, 1) }, from(ip));
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('rate_limited');
    // Reports share the budget: one report is one unit.
    expect((await agent.req('POST', '/v1/keys/report-leak', { key: unknownKey(1) }, from(ip))).status).toBe(429);
    expect((await agent.req('POST', '/v1/keys/report-leak', { key: unknownKey(1) }, from(freshV4()))).status).toBe(202);
  });

  it('more than 100 keys in one call is a 400 in the envelope, never a partial answer', async () => {
    const r = await new Agent(h.app).req(
      'POST',
      '/v1/keys/check',
      { keys: Array.from({ length: 101 }, (_, i) => unknownKey(i)) },
      from(freshV4()),
    );
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
  });
});
