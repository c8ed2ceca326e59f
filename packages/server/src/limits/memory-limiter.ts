import { randomUUID } from 'node:crypto';
import { evaluateBudget, evaluateGcra, evaluateQuota, type LimitDecision } from '@keyward/core';
import { type Clock, systemClock } from '../ids.js';
import { type GiveBack, type LimitCheck, type Limiter, type LimitResult, type Meter, type MeterResult, meterAllows } from './limiter.js';

/** How long a lease's id is remembered as given back: longer than any verifier retries a give-back. */
const GIVEN_BACK_MS = 600_000;

interface MeterState {
  /** GCRA theoretical arrival time; 0 when none. */
  tat: number;
  /** The month `used` counts, e.g. `2026-11`; empty until seeded. */
  month: string;
  used: number;
  /** Credits spent; null until seeded from storage. */
  spent: number | null;
  /** The last check that counted here. */
  touched: number;
}

/**
 * Limits inside one process: per lineage, one GCRA time, one month counter and one budget counter, in one map
 * entry. Counters start from what storage counted, so a restart does not hand out a fresh quota or budget. A check
 * is synchronous once its counters are seeded, so checking every meter and then charging them is atomic.
 */
export class MemoryLimiter implements Limiter {
  /** Counters of this process since it started: they lend leases and take them back. */
  readonly id = `memory:${randomUUID()}`;
  readonly #meters = new Map<string, MeterState>();
  readonly #seeding = new Map<string, Promise<void>>();
  /** Leases given back, by id, with when: a retried give-back must not give back twice. */
  readonly #givenBack = new Map<string, number>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(clock: Clock = systemClock) {
    this.#sweeper = setInterval(() => this.#sweep(clock.now()), 60_000);
    this.#sweeper.unref();
  }

  /** Synchronous unless a counter has not been read from storage yet. */
  check(input: LimitCheck): LimitResult | Promise<LimitResult> {
    const states: MeterState[] = new Array(input.meters.length);
    let seeds: Promise<void>[] | null = null;
    for (let i = 0; i < input.meters.length; i++) {
      const meter = input.meters[i] as Meter;
      let state = this.#meters.get(meter.id);
      if (!state) {
        state = { tat: 0, month: '', used: 0, spent: null, touched: 0 };
        this.#meters.set(meter.id, state);
      }
      states[i] = state;
      const quota = meter.quota !== null && state.month !== meter.quota.month;
      const budget = meter.budget !== null && state.spent === null;
      if (quota || budget) {
        if (seeds === null) seeds = [];
        if (quota) seeds.push(this.#seedQuota(meter, state));
        if (budget) seeds.push(this.#seedBudget(meter, state));
      }
    }
    if (seeds !== null) return Promise.all(seeds).then(() => this.#decide(input, states));
    return this.#decide(input, states);
  }

  #decide({ now, cost, meters, count = 1, holdMs = 0 }: LimitCheck, states: MeterState[]): LimitResult {
    const results: (MeterResult & { rate: (LimitDecision & { tat: number }) | null })[] = [];
    let allowed = true;
    for (let i = 0; i < meters.length; i++) {
      const { rate, quota, budget } = meters[i] as Meter;
      const s = states[i] as MeterState;
      const r = {
        rate: rate ? evaluateGcra({ tat: s.tat, now, limit: rate.limit, periodMs: rate.periodMs, count, holdMs }) : null,
        quota: quota ? evaluateQuota(s.used, quota.limit, quota.resetAt, now, count) : null,
        budget: budget ? evaluateBudget(s.spent ?? 0, budget.limit, cost) : null,
      };
      results.push(r);
      if (!meterAllows(r)) allowed = false;
    }
    if (allowed) {
      for (let i = 0; i < meters.length; i++) {
        const r = results[i] as (typeof results)[number];
        const s = states[i] as MeterState;
        if (r.rate) s.tat = r.rate.tat;
        if (r.quota) s.used += count;
        if (r.budget) s.spent = (s.spent ?? 0) + cost;
        s.touched = now;
      }
    }
    return { meters: results, allowed };
  }

  /**
   * All at once, like a seeded check, so a give-back never lands between a check's decision and its charge. A meter
   * with nothing in memory has nothing to give back: it was swept, so its rate has long refilled, and a later check
   * seeds its quota and budget from storage.
   */
  async giveBack({ id, now, count, rateCount = count, cost, meters }: GiveBack): Promise<boolean> {
    if (this.#givenBack.has(id)) return false;
    this.#givenBack.set(id, now);
    for (const ref of meters) {
      const s = this.#meters.get(ref.id);
      if (!s) continue;
      if (ref.rate) {
        const back = s.tat - rateCount * (ref.rate.periodMs / ref.rate.limit);
        s.tat = back > now ? back : 0;
      }
      if (ref.quotaMonth !== null && s.month === ref.quotaMonth) s.used = Math.max(0, s.used - count);
      if (ref.budget && s.spent !== null) s.spent = Math.max(0, s.spent - cost);
    }
    return true;
  }

  /** One storage read per lineage and month, however many requests arrive while it runs. */
  #seedQuota(meter: Meter, state: MeterState): Promise<void> {
    const quota = meter.quota as NonNullable<Meter['quota']>;
    return this.#once(`${meter.id}:${quota.month}`, quota.seed, (used) => {
      if (state.month !== quota.month) {
        state.month = quota.month;
        state.used = used;
      }
    });
  }

  #seedBudget(meter: Meter, state: MeterState): Promise<void> {
    const budget = meter.budget as NonNullable<Meter['budget']>;
    return this.#once(`${meter.id}:budget`, budget.seed, (spent) => {
      if (state.spent === null) state.spent = spent;
    });
  }

  #once(id: string, read: () => Promise<number>, apply: (n: number) => void): Promise<void> {
    let pending = this.#seeding.get(id);
    if (!pending) {
      pending = read().then(
        (n) => {
          this.#seeding.delete(id);
          apply(n);
        },
        (error) => {
          this.#seeding.delete(id);
          throw error;
        },
      );
      this.#seeding.set(id, pending);
    }
    return pending;
  }

  /**
   * Drops counters whose rate has refilled and that counted nothing for an hour: a later check seeds them again
   * from storage, which has long had everything they counted. Forgets leases given back ten minutes ago.
   */
  #sweep(now: number): void {
    for (const [id, s] of this.#meters) if (s.tat < now && s.touched < now - 3_600_000) this.#meters.delete(id);
    for (const [id, at] of this.#givenBack) if (at < now - GIVEN_BACK_MS) this.#givenBack.delete(id);
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
  }
}
