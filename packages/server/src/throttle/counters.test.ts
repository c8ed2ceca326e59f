import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis } from '../redis/client.js';
import { MemoryCounters, RedisCounters, type ThrottleCounters } from './counters.js';

const url = process.env.KEYWARD_TEST_REDIS_URL;
if (!url) console.warn('[skip] Redis throttle counters: set KEYWARD_TEST_REDIS_URL to run them (as .ci/run does)');
const silent = pino({ level: 'silent' });
const BUDGET = { limit: 3, periodMs: 60_000 };
const T0 = 1_800_000_000_000;

/** `open` gives the counters and how to let go of what they hold (a Redis connection). */
function counterContract(name: string, open: () => Promise<{ counters: ThrottleCounters; close(): void }>, enabled = true) {
  describe.skipIf(!enabled)(`throttle counters: ${name}`, () => {
    let counters: ThrottleCounters;
    let close = () => {};
    let n = 0;
    const bucket = () => `test|${Date.now().toString(36)}|${++n}`;
    beforeAll(async () => {
      ({ counters, close } = await open());
    });
    afterAll(() => close());

    it('charges up to the budget, then answers the wait without charging', async () => {
      const b = bucket();
      const waits = [];
      for (let i = 0; i < 5; i++) waits.push(await counters.charge(b, BUDGET, T0));
      expect(waits.slice(0, 3)).toEqual([0, 0, 0]);
      expect(waits[3]).toBe(20_000);
      expect(waits[4]).toBe(20_000);
      // One more event is allowed once a third of the period has passed, and refused charges did not dig deeper.
      expect(await counters.charge(b, BUDGET, T0 + 20_000)).toBe(0);
      expect(await counters.charge(b, BUDGET, T0 + 20_000)).toBeGreaterThan(0);
    });

    it('trust: throttles are bypassed by parallel requests: 200 charges at once take exactly the budget', async () => {
      const b = bucket();
      const waits = await Promise.all(Array.from({ length: 200 }, () => counters.charge(b, BUDGET, T0)));
      expect(waits.filter((w) => w === 0)).toHaveLength(3);
      expect(waits.filter((w) => w > 0)).toHaveLength(197);
    });

    it('a refund gives one charged event back, never more than was charged', async () => {
      const b = bucket();
      for (let i = 0; i < 3; i++) await counters.charge(b, BUDGET, T0);
      await counters.refund(b, BUDGET, T0);
      expect(await counters.charge(b, BUDGET, T0)).toBe(0);
      expect(await counters.charge(b, BUDGET, T0)).toBe(20_000);
      // Refunds past an empty bucket do not bank credit.
      const c = bucket();
      for (let i = 0; i < 5; i++) await counters.refund(c, BUDGET, T0);
      const waits = [];
      for (let i = 0; i < 4; i++) waits.push(await counters.charge(c, BUDGET, T0));
      expect(waits).toEqual([0, 0, 0, 20_000]);
    });

    it('keeps buckets apart', async () => {
      const [a, b] = [bucket(), bucket()];
      for (let i = 0; i < 3; i++) await counters.charge(a, BUDGET, T0);
      expect(await counters.charge(a, BUDGET, T0)).toBeGreaterThan(0);
      expect(await counters.charge(b, BUDGET, T0)).toBe(0);
    });
  });
}

counterContract('in process', async () => ({ counters: new MemoryCounters(), close: () => {} }));
counterContract(
  'Redis',
  async () => {
    const redis = await connectRedis(url ?? '');
    return { counters: new RedisCounters(redis, silent, `kwtest:${Date.now()}:`), close: () => redis.disconnect() };
  },
  Boolean(url),
);

describe.skipIf(!url)('Redis throttle counters while Redis is away', () => {
  it('fall back to counting in this process instead of letting everything through or refusing everyone', async () => {
    const redis = await connectRedis('redis://127.0.0.1:1', 100);
    const counters = new RedisCounters(redis, silent);
    try {
      const waits = [];
      for (let i = 0; i < 4; i++) waits.push(await counters.charge('down|x', BUDGET, T0));
      expect(waits).toEqual([0, 0, 0, 20_000]);
    } finally {
      redis.disconnect();
    }
  });
});
