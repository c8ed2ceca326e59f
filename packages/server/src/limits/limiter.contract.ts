import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LimitCheck, Limiter, LimitResult, Meter } from './limiter.js';

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
  });
}
