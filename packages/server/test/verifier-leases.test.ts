import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, bearer, type Harness, startHarness } from './harness.js';

const CREDENTIAL = 'kwv_verifier-leases-suite-credential-0123456789';
const config = {
  default_plan: 'business',
  plans: {
    free: { requests_per_minute: 60, monthly_requests: null, max_active_keys: null },
    pro: { requests_per_minute: null, monthly_requests: 1000, max_active_keys: null },
    business: { requests_per_minute: null, monthly_requests: null, max_active_keys: null },
  },
  verifier_credentials: [{ name: 'leases suite', sha256: createHash('sha256').update(CREDENTIAL).digest('hex') }],
};

describe('allowances leased to remote verifiers (POST /v1/verifier/leases)', () => {
  let h: Harness;
  let owner: Agent;
  beforeAll(async () => {
    h = await startHarness(config);
    owner = new Agent(h.app);
    await owner.signup('leases@example.com');
  });
  afterAll(() => h.close());

  const lease = (key: string, requests: number, credits?: number) =>
    owner.req('POST', '/v1/verifier/leases', { key, requests, ...(credits !== undefined ? { credits } : {}) }, bearer(CREDENTIAL));
  const giveBack = (leases: { lease: string; requests: number; credits?: number }[]) =>
    owner.req('POST', '/v1/verifier/leases/return', { leases }, bearer(CREDENTIAL));
  const verify = (key: string, cost?: number) =>
    owner.req('POST', '/v1/keys/verify', { key, ...(cost !== undefined ? { cost } : {}) }, bearer(CREDENTIAL));
  async function allowedNow(key: string, most: number): Promise<number> {
    let n = 0;
    for (let i = 0; i < most; i++) if ((await verify(key)).body.valid) n++;
    return n;
  }

  it('lends a 60/min key at most a twentieth of its minute, counted at once: the key has that much less left', async () => {
    const key = await owner.createKey({ name: 'per minute', tier: 'free' });
    const r = await lease(key.raw_key, 100);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ key_id: key.id, requests: 3, credits: null, expires_in_ms: 2000 });
    expect(r.body.lease).toEqual(expect.any(String));
    // The 3 stay counted for the lease's 2 s at least (their slots end at 3, 4 and 5 s): 2 more of an idle minute.
    expect(r.body.rates).toEqual([{ until_ms: 5000, interval_ms: 1000 }]);
    expect(r.body.ratelimit).toMatchObject({ limit: 60, remaining: 55 });
    // 55 of the burst are left for everyone else; the 56th is refused with the usual Retry-After.
    expect(await allowedNow(key.raw_key, 55)).toBe(55);
    const refused = await verify(key.raw_key);
    expect(refused.body).toMatchObject({ valid: false, code: 'RATE_LIMITED' });
    expect(refused.headers['retry-after']).toMatch(/^\d+$/);
  });

  it('takes back what a lease did not spend, once: the key can use it again, a second return changes nothing', async () => {
    const key = await owner.createKey({ name: 'given back', tier: 'free' });
    const granted = (await lease(key.raw_key, 3)).body;
    expect(granted.requests).toBe(3);
    expect(await allowedNow(key.raw_key, 60)).toBe(55);
    const back = await giveBack([{ lease: granted.lease, requests: 2 }]);
    expect(back.body).toEqual({ returned: 1, ignored: 0 });
    expect((await giveBack([{ lease: granted.lease, requests: 2 }])).body).toEqual({ returned: 0, ignored: 1 });
    expect(await allowedNow(key.raw_key, 10)).toBe(2);
  });

  it('never gives back more than was lent, and ignores a lease it did not seal or one that was altered', async () => {
    const key = await owner.createKey({ name: 'forged', tier: 'free' });
    const granted = (await lease(key.raw_key, 3)).body;
    expect(await allowedNow(key.raw_key, 60)).toBe(55);
    const altered = `${granted.lease.slice(0, -4)}AAAA`;
    expect(
      (
        await giveBack([
          { lease: altered, requests: 6 },
          { lease: 'not-a-lease', requests: 6 },
        ])
      ).body,
    ).toEqual({
      returned: 0,
      ignored: 2,
    });
    expect((await giveBack([{ lease: granted.lease, requests: 1000 }])).body).toEqual({ returned: 1, ignored: 0 });
    expect(await allowedNow(key.raw_key, 20)).toBe(3);
  });

  it('lends less than asked when less is left, and nothing once the minute is spent (each request is then asked about)', async () => {
    const key = await owner.createKey({ name: 'nearly spent', tier: 'free' });
    expect(await allowedNow(key.raw_key, 58)).toBe(58);
    expect((await lease(key.raw_key, 6)).body).toMatchObject({ requests: 2 });
    const none = await lease(key.raw_key, 6);
    expect(none.body).toMatchObject({ lease: null, requests: 0, refused: 'limited' });
    expect(none.body.ratelimit.remaining).toBe(0);
    // A minute later the burst is whole again.
    h.clock.advance(60_000);
    expect((await lease(key.raw_key, 6)).body.requests).toBe(3);
  });

  it('counts a monthly quota: a lease of a hundredth of it is used at once, and its return is not', async () => {
    const key = await owner.createKey({ name: 'monthly', tier: 'pro' });
    const granted = (await lease(key.raw_key, 500)).body;
    expect(granted).toMatchObject({ requests: 10, credits: null });
    expect(granted.ratelimit).toMatchObject({ limit: 1000, remaining: 990 });
    expect((await verify(key.raw_key)).body.ratelimit).toMatchObject({ remaining: 989 });
    await giveBack([{ lease: granted.lease, requests: 10 }]);
    expect((await verify(key.raw_key)).body.ratelimit).toMatchObject({ remaining: 998 });
  });

  it('lends credits of a budget for whole requests (a twentieth of it at most) and takes back the unspent ones', async () => {
    const key = await owner.createKey({ name: 'budget', budget: 100 });
    const granted = (await lease(key.raw_key, 10, 50)).body;
    expect(granted).toMatchObject({ requests: 1, credits: 5 }); // whole requests of 5: a twentieth of 100
    expect(granted.budget).toEqual({ limit: 100, remaining: 95 });
    expect((await verify(key.raw_key, 90)).body.budget).toEqual({ limit: 100, remaining: 5 });
    expect((await verify(key.raw_key, 6)).body.valid).toBe(false);
    await giveBack([{ lease: granted.lease, requests: 10, credits: 5 }]);
    expect((await verify(key.raw_key, 10)).body).toMatchObject({ valid: true, budget: { remaining: 0 } });
  });

  it('lends a child key from its parent’s limits too', async () => {
    const parent = await owner.createKey({ name: 'parent', tier: 'free' });
    const child = await owner.req('POST', '/v1/keys/derive', { name: 'child' }, bearer(parent.raw_key));
    expect(child.status).toBe(201);
    h.clock.advance(60_000); // the parent's minute whole again after deriving
    const granted = (await lease(child.body.key.raw_key, 6)).body;
    expect(granted.requests).toBe(3);
    expect(await allowedNow(parent.raw_key, 60)).toBe(55);
  });

  it('takes back into a rate only requests whose slots are still ahead: a late return frees nothing already refilled', async () => {
    const key = await owner.createKey({ name: 'late return', tier: 'free' });
    const granted = (await lease(key.raw_key, 3)).body;
    expect(granted.requests).toBe(3);
    h.clock.advance(6000); // the lease's slots ended at 3, 4 and 5 s; the minute is whole again
    expect(await allowedNow(key.raw_key, 61)).toBe(60);
    expect((await giveBack([{ lease: granted.lease, requests: 3 }])).body).toEqual({ returned: 1, ignored: 0 });
    expect(await allowedNow(key.raw_key, 5)).toBe(0);
  });

  it('takes a lease back only into the counters that lent it (not another instance’s own memory)', async () => {
    const key = await owner.createKey({ name: 'elsewhere', tier: 'free' });
    const granted = (await lease(key.raw_key, 3)).body;
    const other = await startHarness(config);
    try {
      const back = await new Agent(other.app).req(
        'POST',
        '/v1/verifier/leases/return',
        { leases: [{ lease: granted.lease, requests: 3 }] },
        bearer(CREDENTIAL),
      );
      expect(back.body).toEqual({ returned: 0, ignored: 1 });
    } finally {
      await other.close();
    }
    expect((await giveBack([{ lease: granted.lease, requests: 3 }])).body).toEqual({ returned: 1, ignored: 0 });
  });

  it('lends nothing for a key without limits, an unknown key or a revoked one', async () => {
    const plain = await owner.createKey({ name: 'unlimited' });
    expect((await lease(plain.raw_key, 10)).body).toMatchObject({ lease: null, requests: 0, refused: 'not_limited', key_id: plain.id });
    expect((await lease('kw_test_nosuchkey0000000000000000000000', 10)).body).toMatchObject({ lease: null, refused: 'no_key' });
    const revoked = await owner.createKey({ name: 'revoked', tier: 'free' });
    expect((await owner.req('DELETE', `/api/developers/keys/${revoked.id}`)).status).toBe(200);
    expect((await lease(revoked.raw_key, 10)).body).toMatchObject({ lease: null, refused: 'no_key' });
    // A budget under 20 requests' cost has no share to lend: each request is asked about.
    const small = await owner.createKey({ name: 'small budget', budget: 10 });
    expect((await lease(small.raw_key, 1, 1)).body).toMatchObject({ lease: null, refused: 'too_small' });
  });

  it('ends a lease of a monthly quota by the month’s end, and lends none in its last quarter second', async () => {
    const key = await owner.createKey({ name: 'month end', tier: 'pro' });
    const saved = h.clock.t;
    try {
      h.clock.t = Date.UTC(2026, 11, 1) - 1000;
      expect((await lease(key.raw_key, 5)).body).toMatchObject({ requests: 5, expires_in_ms: 1000 });
      h.clock.t = Date.UTC(2026, 11, 1) - 100;
      expect((await lease(key.raw_key, 5)).body).toMatchObject({ lease: null, refused: 'limited' });
    } finally {
      h.clock.t = saved;
    }
  });

  it('answers only a verifier credential (401), and a malformed ask with 400, in the envelope', async () => {
    const key = await owner.createKey({ name: 'anyone', tier: 'free' });
    const anon = await owner.req('POST', '/v1/verifier/leases', { key: key.raw_key, requests: 6 }, bearer(key.raw_key));
    expect(anon.status).toBe(401);
    expect(anon.body.error.code).toBe('unauthorized');
    expect((await owner.req('POST', '/v1/verifier/leases/return', { leases: [] }, {})).status).toBe(401);
    const bad = await owner.req('POST', '/v1/verifier/leases', { key: key.raw_key, requests: 0 }, bearer(CREDENTIAL));
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_request');
    expect((await giveBack([{ lease: 'x', requests: -1 }])).status).toBe(400);
  });
});
