import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, bearer, type Harness, startHarness } from './harness.js';

/** The abuse throttles per client address, each named after what the hardening review found. */
const from = (ip: string) => ({ 'x-test-remote': ip });

describe('device codes and user codes', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ default_plan: 'free' });
  });
  afterAll(() => h.close());

  it('finding: device codes could be created without limit (1,450/s, each stored); now 30 an hour per address', async () => {
    const agent = new Agent(h.app);
    const statuses: number[] = [];
    for (let i = 0; i < 32; i++) statuses.push((await agent.req('POST', '/api/device/code', {}, from('10.1.0.1'))).status);
    expect(statuses.slice(0, 30).every((s) => s === 200)).toBe(true);
    const refused = await agent.req('POST', '/api/device/code', {}, from('10.1.0.1'));
    expect(refused.status).toBe(429);
    expect(refused.body.error).toBe('slow_down');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // Another address is not affected, and the budget refills (one code every two minutes).
    expect((await agent.req('POST', '/api/device/code', {}, from('10.1.0.2'))).status).toBe(200);
    h.clock.advance(2 * 60_000);
    expect((await agent.req('POST', '/api/device/code', {}, from('10.1.0.1'))).status).toBe(200);
  });

  it('finding: user codes could be guessed at 2,371/s; wrong codes now stop at 20 per 15 minutes per address', async () => {
    const person = new Agent(h.app);
    await person.signup('user-code-typist@example.com');
    const started = await new Agent(h.app).req('POST', '/api/device/code', {}, from('10.1.1.9'));
    const real = started.body.user_code as string;
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++)
      statuses.push((await person.req('GET', `/device?user_code=BCDF-${'GHJK'}`, undefined, from('10.1.1.1'))).status);
    expect(statuses.every((s) => s === 400)).toBe(true);
    const blocked = await person.req('GET', `/device?user_code=${real}`, undefined, from('10.1.1.1'));
    expect(blocked.status).toBe(429);
    expect(blocked.body).toContain('Too many wrong codes');
    // The same person from another address (a phone) is not locked out.
    const elsewhere = await person.req('GET', `/device?user_code=${real}`, undefined, from('10.1.1.2'));
    expect(elsewhere.status).toBe(200);
    expect(elsewhere.body).toContain(real);
  });
});

describe('key guessing on /v1/whoami and /v1/keys/verify', () => {
  const credential = 'kwv_throttle-suite-credential';
  let h: Harness;
  let owner: Agent;
  let key: string;
  const unknown = (i: number) => `sk_live_${String(i).padStart(8, '0')}${'A'.repeat(40)}`;
  beforeAll(async () => {
    h = await startHarness({
      default_plan: 'free',
      verifier_credentials: [{ name: 'gateway', sha256: createHash('sha256').update(credential).digest('hex') }],
    });
    owner = new Agent(h.app);
    await owner.signup('guess-owner@example.com');
    key = (await owner.createKey({ name: 'real', scope: 'read' })).raw_key;
  });
  afterAll(() => h.close());

  it('finding: unknown keys could be tried without limit; past 100 a minute an address answers 429 with Retry-After', async () => {
    const guesser = new Agent(h.app);
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++)
      statuses.push((await guesser.req('GET', '/v1/whoami', undefined, { ...bearer(unknown(i)), ...from('10.2.0.1') })).status);
    expect(statuses.every((s) => s === 401)).toBe(true);
    const refused = await guesser.req('GET', '/v1/whoami', undefined, { ...bearer(unknown(100)), ...from('10.2.0.1') });
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('rate_limited');
    expect(refused.body.error.message).toMatch(/Too many unknown API keys from this address/);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // The throttle refuses guesses, not keys (rules after the second version): a real key from that address works.
    expect((await guesser.req('GET', '/v1/whoami', undefined, { ...bearer(key), ...from('10.2.0.1') })).status).toBe(200);
    expect((await guesser.req('GET', '/v1/whoami', undefined, { ...bearer(unknown(101)), ...from('10.2.0.1') })).status).toBe(429);
    // The owner elsewhere is not affected; the guesser gets through again once the wait is over.
    expect((await owner.req('GET', '/v1/whoami', undefined, { ...bearer(key), ...from('10.2.0.2') })).status).toBe(200);
    h.clock.advance(Number(refused.headers['retry-after']) * 1000);
    expect((await guesser.req('GET', '/v1/whoami', undefined, { ...bearer(unknown(102)), ...from('10.2.0.1') })).status).toBe(401);
  });

  it('on verify, the caller is charged, or the client a verifier names, never the verifier itself', async () => {
    const caller = new Agent(h.app);
    let last: Awaited<ReturnType<Agent['req']>> | undefined;
    for (let i = 0; i <= 100; i++) last = await caller.req('POST', '/v1/keys/verify', { key: unknown(i) }, from('10.3.0.1'));
    expect(last?.status).toBe(200);
    expect(last?.body).toMatchObject({ valid: false, code: 'RATE_LIMITED' });
    expect(Number(last?.headers['retry-after'])).toBeGreaterThan(0);

    // A gateway passing its clients' addresses is never blocked as a whole: the client that guesses is.
    const gateway = new Agent(h.app);
    const asGateway = { ...bearer(credential), ...from('10.3.0.9') };
    for (let i = 0; i <= 100; i++) last = await gateway.req('POST', '/v1/keys/verify', { key: unknown(i), ip: '203.0.113.7' }, asGateway);
    expect(last?.body.code).toBe('RATE_LIMITED');
    const honest = await gateway.req('POST', '/v1/keys/verify', { key, ip: '203.0.113.8' }, asGateway);
    expect(honest.body.valid).toBe(true);
  });
});

const redisUrl = process.env.KEYWARD_TEST_REDIS_URL;
describe.skipIf(!redisUrl)('throttles shared through Redis', () => {
  it('two instances count one budget: spreading guesses over instances gains nothing', async () => {
    const config = {
      default_plan: 'free',
      throttles: { unknown_keys: { limit: 6, period_seconds: 60 }, sign_in_per_address: { limit: 4, period_seconds: 900 } },
    };
    const a = await startHarness(config, {}, { redisUrl });
    const b = await startHarness(config, {}, { redisUrl });
    try {
      // An address of this run only, so that counts left in the shared Redis by an earlier run do not matter.
      const ip = `10.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
      const [onA, onB] = [new Agent(a.app), new Agent(b.app)];
      const whoami = (agent: Agent, i: number) =>
        agent.req('GET', '/v1/whoami', undefined, { ...bearer(`sk_live_shared${i}${'B'.repeat(40)}`), ...from(ip) });
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await whoami(onA, i)).status, (await whoami(onB, i)).status);
      expect(statuses).toEqual([401, 401, 401, 401, 401, 401]);
      expect((await whoami(onA, 9)).status).toBe(429);
      expect((await whoami(onB, 9)).status).toBe(429);

      const login = (agent: Agent) =>
        agent.req('POST', '/api/auth/login', { email: `x${Math.random()}@example.com`, password: 'nope' }, from(ip));
      expect([(await login(onA)).status, (await login(onB)).status, (await login(onA)).status, (await login(onB)).status]).toEqual([
        401, 401, 401, 401,
      ]);
      expect((await login(onA)).status).toBe(429);
      expect((await login(onB)).status).toBe(429);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
