/**
 * Limiter checks per second, each beside its raw baseline measured in the same run:
 *   - in-process limiter vs a bare in-memory counter (Map increment);
 *   - Redis limiter (one Lua call per check) vs raw INCR round-trips, same connection, same concurrency.
 * Run: npm run bench:limiter  (Redis at KEYWARD_REDIS_URL or redis://127.0.0.1:6379)
 */
import pino from 'pino';
import { MemoryLimiter } from '../packages/server/src/index.js';
import type { LimitCheck } from '../packages/server/src/limits/limiter.js';
import { RedisLimiter } from '../packages/server/src/limits/redis-limiter.js';
import { connectRedis } from '../packages/server/src/redis/client.js';
import { median, opsPerSecond, row } from './lib.js';

const KEYS = 1000;
const now = Date.now();
const check = (i: number): LimitCheck => ({
  now,
  cost: 1,
  meters: [
    {
      id: `key_bench${i % KEYS}`,
      rate: { limit: 1_000_000_000, periodMs: 60_000 },
      quota: { limit: 1_000_000_000, month: '2026-11', resetAt: now + 86_400_000, seed: async () => 0 },
      budget: null,
    },
  ],
});

/** `concurrency` callers, each awaiting its own calls back to back, for `ms`: total calls per second. */
async function concurrent(fn: (i: number) => Promise<unknown>, concurrency = 64, ms = 2000): Promise<number> {
  let done = 0;
  const end = performance.now() + ms;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      let i = w;
      while (performance.now() < end) {
        await fn(i);
        i += concurrency;
        done++;
      }
    }),
  );
  return (done * 1000) / (performance.now() - start);
}

const memory = new MemoryLimiter();
for (let i = 0; i < KEYS; i++) await memory.check(check(i)); // seed every month counter
const counter = new Map<string, number>();
let a = 0;
let b = 0;
const runs = { bare: [] as number[], memory: [] as number[] };
for (let round = 0; round < 3; round++) {
  runs.bare.push(
    await opsPerSecond(() => {
      const k = `key_bench${a++ % KEYS}`;
      counter.set(k, (counter.get(k) ?? 0) + 1);
    }),
  );
  runs.memory.push(await opsPerSecond(() => memory.check(check(b++))));
}
await memory.close();
console.log('in-process (medians of 3 alternating runs)');
console.log(row('bare Map counter (baseline)', median(runs.bare), median(runs.bare)));
console.log(row('in-process limiter check (GCRA + quota)', median(runs.memory), median(runs.bare)));

const url = process.env.KEYWARD_REDIS_URL ?? 'redis://127.0.0.1:6379';
const raw = await connectRedis(url);
const redis = new RedisLimiter(await connectRedis(url), pino({ level: 'silent' }), {
  onRedisError: 'closed',
  keyPrefix: `kwbench:${now}:`,
});
const redisRuns = { incr: [] as number[], limiter: [] as number[] };
for (let round = 0; round < 3; round++) {
  redisRuns.incr.push(await concurrent((i) => raw.incr(`kwbench:${now}:raw:${i % KEYS}`)));
  redisRuns.limiter.push(await concurrent((i) => redis.check(check(i))));
}
console.log('\nRedis, 64 concurrent callers on one connection (medians of 3 alternating 2 s runs)');
console.log(row('raw INCR round-trips (baseline)', median(redisRuns.incr), median(redisRuns.incr)));
console.log(row('Redis limiter check (one Lua call)', median(redisRuns.limiter), median(redisRuns.incr), '>= 20,000/s and >= 50%'));
const leftovers = await raw.keys(`kwbench:${now}:*`);
for (let i = 0; i < leftovers.length; i += 500) await raw.del(...leftovers.slice(i, i + 500));
raw.disconnect();
await redis.close();
