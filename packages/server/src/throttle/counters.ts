import { evaluateGcra } from '@keyward/core';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Budget } from '../config/config.js';

/**
 * Counts events (sign-in attempts, unknown keys, device codes …) per bucket against a budget. `charge` counts one
 * unless the budget is spent, in one atomic step (a reservation: parallel charges never take more than the budget),
 * and answers how many milliseconds until the bucket takes another event: 0 when it took this one. There is no
 * look without a charge, so no caller can check before the work and charge after it. `refund` gives one charged
 * event back (an attempt that turned out honest).
 */
export interface ThrottleCounters {
  charge(bucket: string, budget: Budget, now: number): number | Promise<number>;
  refund(bucket: string, budget: Budget, now: number): void | Promise<void>;
}

/** Counters in this process: one GCRA time per bucket, swept once the map grows large. */
export class MemoryCounters implements ThrottleCounters {
  readonly #tat = new Map<string, number>();

  charge(bucket: string, budget: Budget, now: number): number {
    const d = evaluateGcra({ tat: this.#tat.get(bucket) ?? 0, now, ...budget });
    if (!d.allowed) return d.retryAfterMs;
    this.#tat.set(bucket, d.tat);
    if (this.#tat.size > 100_000) for (const [k, t] of this.#tat) if (t < now) this.#tat.delete(k);
    return 0;
  }

  refund(bucket: string, budget: Budget, now: number): void {
    const tat = this.#tat.get(bucket);
    if (tat === undefined) return;
    const back = tat - budget.periodMs / budget.limit;
    if (back > now) this.#tat.set(bucket, back);
    else this.#tat.delete(bucket);
  }
}

/** Charges one event when the budget allows; returns the GCRA time before it, decided again in TypeScript. */
const CHARGE = `
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local newtat = math.max(tat, now) + period / limit
if newtat - period <= now then
  redis.call('SET', KEYS[1], tostring(newtat), 'PX', math.ceil(newtat - now) + 1000)
end
return tostring(tat)
`;

/** Gives one charged event back: the GCRA time moves back one emission interval (never below now). */
const REFUND = `
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local back = tat - period / limit
if back > now then
  redis.call('SET', KEYS[1], tostring(back), 'PX', math.ceil(back - now) + 1000)
else
  redis.call('DEL', KEYS[1])
end
return 1
`;

interface Scripted extends Redis {
  keywardThrottle(key: string, now: number, limit: number, periodMs: number): Promise<string>;
  keywardThrottleRefund(key: string, now: number, limit: number, periodMs: number): Promise<number>;
}

/**
 * Counters shared by every instance through Redis, so that spreading attempts over instances gains nothing. When
 * Redis cannot be reached they fall back to counting in this process (logged once): a Redis outage weakens the
 * throttles to per-instance ones, never switches them off and never refuses honest clients.
 */
export class RedisCounters implements ThrottleCounters {
  readonly #redis: Scripted;
  readonly #local = new MemoryCounters();
  #down = false;

  constructor(
    redis: Redis,
    private readonly logger: Logger,
    private readonly prefix = 'keyward:throttle:',
  ) {
    redis.defineCommand('keywardThrottle', { numberOfKeys: 1, lua: CHARGE });
    redis.defineCommand('keywardThrottleRefund', { numberOfKeys: 1, lua: REFUND });
    this.#redis = redis as Scripted;
  }

  async charge(bucket: string, budget: Budget, now: number): Promise<number> {
    try {
      const tat = Number(await this.#redis.keywardThrottle(this.prefix + bucket, now, budget.limit, budget.periodMs));
      this.#up();
      return evaluateGcra({ tat, now, ...budget }).retryAfterMs;
    } catch (error) {
      this.#fail(error);
      return this.#local.charge(bucket, budget, now);
    }
  }

  async refund(bucket: string, budget: Budget, now: number): Promise<void> {
    try {
      await this.#redis.keywardThrottleRefund(this.prefix + bucket, now, budget.limit, budget.periodMs);
      this.#up();
    } catch (error) {
      this.#fail(error);
      this.#local.refund(bucket, budget, now);
    }
  }

  #fail(error: unknown): void {
    if (this.#down) return;
    this.#down = true;
    this.logger.error(
      { err: { message: (error as Error).message } },
      'Redis unreachable: abuse throttles count per instance until it is back',
    );
  }

  #up(): void {
    if (!this.#down) return;
    this.#down = false;
    this.logger.warn('Redis reachable again: abuse throttles are shared by every instance');
  }
}
