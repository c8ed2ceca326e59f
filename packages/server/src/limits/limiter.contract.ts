import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GiveBack, LimitCheck, Limiter, LimitResult, Meter, MeterRef } from './limiter.js';

let n = 0;
const fresh = () => `key_contract${Date.now().toString(36)}${++n}`;
const MINUTE = 60_000;
const T0 = Date.UTC(2026, 10, 30, 23, 0);
const RESET = Date.UTC(2026, 11, 1);

const meter = (id: string, over: Partial<Meter>): Meter => ({ id, rate: null, quota: null, budget: null, ...over });
const one = (now: number, m: Meter, cost = 1): LimitCheck => ({ now, cost, meters: [m] });
const rateOf = (limit: number) => ({ limit, periodMs: MINUTE });
const quotaOf = (limit: number, seed = 0) => ({ limit, month: '2026-11', resetAt: RESET, seed: async () => seed });
const budgetOf = (limit: number, seed = 0) => ({ limit, seed: async () => seed });
function rate(keyId: string, now: number, limit: number): LimitCheck {
  return one(now, meter(keyId, { rate: rateOf(limit) }));
}
function quota(keyId: string, now: number, limit: number, seed = 0): LimitCheck {
  return one(now, meter(keyId, { quota: quotaOf(limit, seed) }));
}
const allowed = (r: LimitResult) => r.allowed;
/** A lease of `count` requests (and `cost` credits) from every meter at once. */
const take = (meters: Meter[], count: number, cost = 0, now = T0): LimitCheck => ({ now, cost, count, meters });
/** A meter as the lease that took from it names it. */
const ref = (m: Meter): MeterRef => ({ id: m.id, rate: m.rate, quotaMonth: m.quota?.month ?? null, budget: m.budget !== null });
const back = (id: string, meters: Meter[], count: number, cost = 0, now = T0): GiveBack => ({
  id,
  now,
  count,
  cost,
  meters: meters.map(ref),
});

/** What every limiter backend must do; run against the in-process one and against Redis. */
export function limiterContract(name: string, open: () => Promise<Limiter>, enabled = true) {
  describe.skipIf(!enabled)(`limiter contract: ${name}`, () => {
    let limiter: Limiter;
    beforeAll(async () => {
      limiter = await open();
    });
    afterAll(() => limiter.close());

    it('lets a burst of the per-minute limit through, refuses the next with a Retry-After within the minute', async () => {
      const key = fresh();
      const results = [];
      for (let i = 0; i < 61; i++) results.push(await limiter.check(rate(key, T0, 60)));
      expect(results.slice(0, 60).every(allowed)).toBe(true);
      expect(results[59]?.meters[0]?.rate?.remaining).toBe(0);
      const last = results[60]?.meters[0]?.rate;
      expect(last?.allowed).toBe(false);
      expect(last?.retryAfterMs).toBeGreaterThan(0);
      expect(last?.retryAfterMs).toBeLessThanOrEqual(MINUTE);
      expect(allowed(await limiter.check(rate(key, T0 + 1000, 60)))).toBe(true);
    });

    it('is atomic: 100 concurrent checks against a limit of 60 allow exactly 60', async () => {
      const key = fresh();
      const results = await Promise.all(Array.from({ length: 100 }, () => limiter.check(rate(key, T0, 60))));
      expect(results.filter(allowed)).toHaveLength(60);
    });

    it('counts the month from what storage already holds, and refuses past the quota until the 1st', async () => {
      const key = fresh();
      const a = await limiter.check(quota(key, T0, 1000, 998));
      const b = await limiter.check(quota(key, T0, 1000, 998));
      const c = await limiter.check(quota(key, T0, 1000, 998));
      expect([allowed(a), allowed(b), allowed(c)]).toEqual([true, true, false]);
      expect(c.meters[0]?.quota?.retryAfterMs).toBe(RESET - T0);
      const d = await limiter.check(quota(key, T0 + 10, 1000, 0));
      expect(allowed(d)).toBe(false);
    });

    it('does not charge refused requests, and keeps keys apart', async () => {
      const key = fresh();
      const other = fresh();
      const both = (now: number) => one(now, meter(key, { rate: rateOf(5), quota: quotaOf(100) }));
      for (let i = 0; i < 5; i++) await limiter.check(both(T0));
      for (let i = 0; i < 10; i++) await limiter.check(both(T0));
      const later = await limiter.check(both(T0 + MINUTE));
      expect(later.meters[0]?.quota?.remaining).toBe(100 - 6);
      expect(allowed(await limiter.check(rate(other, T0, 5)))).toBe(true);
    });

    it("spends a budget by each request's cost, from what storage counted, and refuses what it cannot pay in full", async () => {
      const key = fresh();
      const spend = (cost: number) => limiter.check(one(T0, meter(key, { budget: budgetOf(100, 30) }), cost));
      const answers = [];
      for (let i = 0; i < 11; i++) answers.push(await spend(7)); // 30 + 10 × 7 = 100: the 11th cannot pay
      expect(answers.map(allowed)).toEqual([...Array(10).fill(true), false]);
      expect(answers[9]?.meters[0]?.budget).toEqual({ allowed: true, limit: 100, remaining: 0 });
      expect(answers[10]?.meters[0]?.budget).toEqual({ allowed: false, limit: 100, remaining: 0 });
      expect(allowed(await spend(0))).toBe(true);
    });

    it('is exact under concurrency: 100 concurrent requests against a budget of 50 allow exactly 50', async () => {
      const key = fresh();
      const results = await Promise.all(Array.from({ length: 100 }, () => limiter.check(one(T0, meter(key, { budget: budgetOf(50) })))));
      expect(results.filter(allowed)).toHaveLength(50);
      expect(Math.min(...results.map((r) => r.meters[0]?.budget?.remaining ?? -1))).toBe(0);
    });

    it('counts a request in every meter of a chain at once, or in none of them', async () => {
      const [child, parent, root] = [fresh(), fresh(), fresh()];
      const chain = (cost: number): LimitCheck => ({
        now: T0,
        cost,
        meters: [meter(child, { budget: budgetOf(10) }), meter(parent, { rate: rateOf(1000) }), meter(root, { budget: budgetOf(25) })],
      });
      const other = (cost: number): LimitCheck => ({ now: T0, cost, meters: [meter(root, { budget: budgetOf(25) })] });
      expect(allowed(await limiter.check(chain(10)))).toBe(true); // child spent, root 10
      const refused = await limiter.check(chain(1)); // the child's budget is spent: nothing is counted anywhere
      expect(refused.allowed).toBe(false);
      expect(refused.meters.map((m) => m.budget?.allowed ?? null)).toEqual([false, null, true]);
      expect(refused.meters[1]?.rate?.allowed).toBe(true);
      expect(allowed(await limiter.check(other(15)))).toBe(true); // the root still had 15
      expect(allowed(await limiter.check(other(1)))).toBe(false);
    });

    it('a lease of 10 from a 60/min key leaves 50 of the burst; giving 4 back lets exactly 54 more through', async () => {
      const m = meter(fresh(), { rate: rateOf(60) });
      const lease = await limiter.check(take([m], 10));
      expect(lease.allowed).toBe(true);
      expect(lease.meters[0]?.rate?.remaining).toBe(50);
      expect(await limiter.giveBack(back(fresh(), [m], 4))).toBe(true);
      const after = [];
      for (let i = 0; i < 55; i++) after.push(await limiter.check(one(T0, m)));
      expect(after.map(allowed)).toEqual([...Array(54).fill(true), false]);
    });

    it('gives a rate back no further than now: a lease given back in full, and more, leaves exactly one burst', async () => {
      const m = meter(fresh(), { rate: rateOf(60) });
      expect(allowed(await limiter.check(take([m], 10)))).toBe(true);
      expect(await limiter.giveBack(back(fresh(), [m], 30))).toBe(true);
      const after = [];
      for (let i = 0; i < 61; i++) after.push(await limiter.check(one(T0, m)));
      expect(after.map(allowed)).toEqual([...Array(60).fill(true), false]);
    });

    it('refuses a take of more than is left whole, and counts nothing of it', async () => {
      const m = meter(fresh(), { rate: rateOf(60), quota: quotaOf(100) });
      expect(allowed(await limiter.check(take([m], 50)))).toBe(true);
      const refused = await limiter.check(take([m], 11));
      expect(refused.allowed).toBe(false);
      expect(refused.meters[0]?.rate?.allowed).toBe(false);
      const rest = await limiter.check(take([m], 10));
      expect(rest.allowed).toBe(true);
      expect(rest.meters[0]?.rate?.remaining).toBe(0);
      expect(rest.meters[0]?.quota?.remaining).toBe(40);
      const overQuota = meter(fresh(), { quota: quotaOf(10, 8) });
      expect(allowed(await limiter.check(take([overQuota], 3)))).toBe(false);
      expect((await limiter.check(take([overQuota], 2))).meters[0]?.quota).toMatchObject({ allowed: true, remaining: 0 });
    });

    it('counts a quota take of 5 as 5 and, given back, as 0; a second give-back of the same lease changes nothing and answers false', async () => {
      const m = meter(fresh(), { quota: quotaOf(10) });
      const lease = fresh();
      expect((await limiter.check(take([m], 5))).meters[0]?.quota?.remaining).toBe(5);
      expect(await limiter.giveBack(back(lease, [m], 5))).toBe(true);
      expect((await limiter.check(one(T0, m))).meters[0]?.quota?.remaining).toBe(9);
      expect(await limiter.giveBack(back(lease, [m], 5))).toBe(false);
      expect((await limiter.check(one(T0, m))).meters[0]?.quota?.remaining).toBe(8);
    });

    it('makes credits given back spendable again, and never gives back below nothing spent', async () => {
      const m = meter(fresh(), { budget: budgetOf(100) });
      expect((await limiter.check(take([m], 10, 100))).meters[0]?.budget?.remaining).toBe(0);
      expect(allowed(await limiter.check(one(T0, m, 1)))).toBe(false);
      expect(await limiter.giveBack(back(fresh(), [m], 3, 30))).toBe(true);
      expect((await limiter.check(one(T0, m, 30))).meters[0]?.budget).toEqual({ allowed: true, limit: 100, remaining: 0 });
      expect(allowed(await limiter.check(one(T0, m, 1)))).toBe(false);
      expect(await limiter.giveBack(back(fresh(), [m], 10, 1000))).toBe(true);
      expect(allowed(await limiter.check(one(T0, m, 101)))).toBe(false);
      expect(allowed(await limiter.check(one(T0, m, 100)))).toBe(true);
    });

    it("does not give last month's lease back to this month's quota", async () => {
      const id = fresh();
      const november = meter(id, { quota: quotaOf(10) });
      const DECEMBER = Date.UTC(2026, 11, 1, 1);
      const december = meter(id, { quota: { limit: 10, month: '2026-12', resetAt: Date.UTC(2027, 0, 1), seed: async () => 0 } });
      expect(allowed(await limiter.check(take([november], 5)))).toBe(true);
      expect((await limiter.check(take([december], 3, 0, DECEMBER))).meters[0]?.quota?.remaining).toBe(7);
      expect(await limiter.giveBack(back(fresh(), [november], 5, 0, DECEMBER))).toBe(true);
      expect((await limiter.check(one(DECEMBER, december))).meters[0]?.quota?.remaining).toBe(6);
    });

    it("counts a child key's take in its parent's meter too, and gives back to both", async () => {
      const child = meter(fresh(), { rate: rateOf(60), quota: quotaOf(100) });
      const parent = meter(fresh(), { quota: quotaOf(20), budget: budgetOf(50) });
      const lease = await limiter.check(take([child, parent], 10, 10));
      expect(lease.allowed).toBe(true);
      expect(lease.meters.map((m) => m.quota?.remaining)).toEqual([90, 10]);
      expect(await limiter.giveBack(back(fresh(), [child, parent], 6, 6))).toBe(true);
      const tooMany = await limiter.check(take([child, parent], 17, 17)); // the parent's quota has 16 left
      expect(tooMany.allowed).toBe(false);
      expect(tooMany.meters.map((m) => m.quota?.allowed)).toEqual([true, false]);
      const rest = await limiter.check(take([child, parent], 16, 16));
      expect(rest.allowed).toBe(true);
      expect(rest.meters[0]).toMatchObject({ rate: { remaining: 40 }, quota: { remaining: 80 } });
      expect(rest.meters[1]).toMatchObject({ quota: { remaining: 0 }, budget: { remaining: 30 } });
    });

    it('gives back nothing to counters it does not hold, and counts them from storage later', async () => {
      const m = meter(fresh(), { rate: rateOf(60), quota: quotaOf(10, 4), budget: budgetOf(10, 4) });
      expect(await limiter.giveBack(back(fresh(), [m], 5, 5))).toBe(true);
      const first = await limiter.check(one(T0, m, 1));
      expect(first.meters[0]).toMatchObject({ rate: { remaining: 59 }, quota: { remaining: 5 }, budget: { remaining: 5 } });
    });
  });
}
