import { evaluateGcra, type GcraInput, type LimitDecision } from '@keyward/core';
import type { Redis } from 'ioredis';

/**
 * Core's GCRA step (`evaluateGcra`) in Lua, for every script that keeps a GCRA time in Redis: the throttles' and the
 * limiter's, so that they agree on the step, the stored value and how long it is kept. A script only counts; the
 * caller decides in TypeScript, with `evaluateGcra`, from the time the script returns. A time is kept a second past
 * the moment it has passed, because from then on it counts as no time at all (`math.max(tat, now)`). A step takes
 * `n` events at once (1 when nil), held at least `hold` ms (0 when nil), as `count` and `holdMs` do in `evaluateGcra`; giving `n` back moves the time back as far,
 * and no further than now.
 */
export const GCRA_LUA = `
local function gcra_read(key)
  return tonumber(redis.call('GET', key) or '0')
end
local function gcra_step(tat, now, limit, period, n, hold)
  local newtat = math.max(tat, now + (hold or 0)) + (n or 1) * (period / limit)
  return newtat, newtat - period <= now
end
local function gcra_keep(key, tat, now)
  redis.call('SET', key, tostring(tat), 'PX', math.ceil(tat - now) + 1000)
end
local function gcra_give_back(key, now, limit, period, n)
  local back = gcra_read(key) - n * (period / limit)
  if back > now then gcra_keep(key, back, now) else redis.call('DEL', key) end
end
`;

/** Charges one event when it fits in the burst; returns the time before it. */
const CHARGE = `${GCRA_LUA}
local now, limit, period = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = gcra_read(KEYS[1])
local newtat, fits = gcra_step(tat, now, limit, period)
if fits then gcra_keep(KEYS[1], newtat, now) end
return tostring(tat)
`;

/** Gives one charged event back: the time moves back one emission interval, never below now. */
const REFUND = `${GCRA_LUA}
local now, limit, period = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
gcra_give_back(KEYS[1], now, limit, period, 1)
return 1
`;

type Rate = Pick<GcraInput, 'limit' | 'periodMs'>;

interface Scripted extends Redis {
  keywardGcra(key: string, now: number, limit: number, periodMs: number): Promise<string>;
  keywardGcraRefund(key: string, now: number, limit: number, periodMs: number): Promise<number>;
}

/** One GCRA time per Redis key, each charge and refund one atomic script. Throws whatever Redis throws. */
export class RedisGcra {
  readonly #redis: Scripted;

  constructor(redis: Redis) {
    redis.defineCommand('keywardGcra', { numberOfKeys: 1, lua: CHARGE });
    redis.defineCommand('keywardGcraRefund', { numberOfKeys: 1, lua: REFUND });
    this.#redis = redis as Scripted;
  }

  /** Counts one event at `key` when `rate` allows it, and decides: the event was counted when the decision allows. */
  async charge(key: string, rate: Rate, now: number): Promise<LimitDecision> {
    const tat = Number(await this.#redis.keywardGcra(key, now, rate.limit, rate.periodMs));
    return evaluateGcra({ tat, now, ...rate });
  }

  async refund(key: string, rate: Rate, now: number): Promise<void> {
    await this.#redis.keywardGcraRefund(key, now, rate.limit, rate.periodMs);
  }
}
