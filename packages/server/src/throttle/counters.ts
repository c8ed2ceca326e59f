import { evaluateGcra } from '@keyward/core';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Budget } from '../config/config.js';
import { RedisGcra } from '../redis/gcra.js';
import { RedisHealth } from '../redis/health.js';

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

/**
 * Counters shared by every instance through Redis, so that spreading attempts over instances gains nothing. When
 * Redis cannot be reached they fall back to counting in this process (logged once): a Redis outage weakens the
 * throttles to per-instance ones, never switches them off and never refuses honest clients.
 */
export class RedisCounters implements ThrottleCounters {
  readonly #gcra: RedisGcra;
  readonly #local = new MemoryCounters();
  readonly #health: RedisHealth;

  constructor(
    redis: Redis,
    logger: Logger,
    private readonly prefix = 'keyward:throttle:',
  ) {
    this.#gcra = new RedisGcra(redis);
    this.#health = new RedisHealth(logger, {
      down: 'Redis unreachable: abuse throttles count per instance until it is back',
      back: 'Redis reachable again: abuse throttles are shared by every instance',
    });
  }

  async charge(bucket: string, budget: Budget, now: number): Promise<number> {
    try {
      const decision = await this.#gcra.charge(this.prefix + bucket, budget, now);
      this.#health.answered();
      return decision.retryAfterMs;
    } catch (error) {
      this.#health.failed(error);
      return this.#local.charge(bucket, budget, now);
    }
  }

  async refund(bucket: string, budget: Budget, now: number): Promise<void> {
    try {
      await this.#gcra.refund(this.prefix + bucket, budget, now);
      this.#health.answered();
    } catch (error) {
      this.#health.failed(error);
      this.#local.refund(bucket, budget, now);
    }
  }
}
