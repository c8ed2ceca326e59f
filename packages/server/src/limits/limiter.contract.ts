import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LimitCheck, Limiter, LimitResult } from './limiter.js';

let n = 0;
const fresh = () => `key_contract${Date.now().toString(36)}${++n}`;
const MINUTE = 60_000;
const T0 = Date.UTC(2026, 10, 30, 23, 0);
const RESET = Date.UTC(2026, 11, 1);

function rate(keyId: string, now: number, limit: number): LimitCheck {
  return { keyId, now, rate: { limit, periodMs: MINUTE }, quota: null };
}
function quota(keyId: string, now: number, limit: number, seed = 0): LimitCheck {
  return { keyId, now, rate: null, quota: { limit, month: '2026-11', resetAt: RESET, seed: async () => seed } };
}
const allowed = (r: LimitResult) => (r.rate?.allowed ?? true) && (r.quota?.allowed ?? true);

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
      expect(results[59]?.rate?.remaining).toBe(0);
      const last = results[60]?.rate;
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
      expect(c.quota?.retryAfterMs).toBe(RESET - T0);
      const d = await limiter.check(quota(key, T0 + 10, 1000, 0));
      expect(allowed(d)).toBe(false);
    });

    it('does not charge refused requests, and keeps keys apart', async () => {
      const key = fresh();
      const other = fresh();
      for (let i = 0; i < 5; i++) await limiter.check({ ...rate(key, T0, 5), quota: quota(key, T0, 100).quota });
      for (let i = 0; i < 10; i++) await limiter.check({ ...rate(key, T0, 5), quota: quota(key, T0, 100).quota });
      const later = await limiter.check({ ...rate(key, T0 + MINUTE, 5), quota: quota(key, T0 + MINUTE, 100).quota });
      expect(later.quota?.remaining).toBe(100 - 6);
      expect(allowed(await limiter.check(rate(other, T0, 5)))).toBe(true);
    });
  });
}
