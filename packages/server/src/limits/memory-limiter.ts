import { evaluateGcra, evaluateQuota, monthOf } from '@keyward/core';
import { type Clock, systemClock } from '../ids.js';
import type { LimitCheck, Limiter, LimitResult } from './limiter.js';

interface KeyState {
  /** GCRA theoretical arrival time; 0 when none. */
  tat: number;
  /** The month `used` counts, e.g. `2026-11`; empty until seeded. */
  month: string;
  used: number;
}

/**
 * Limits inside one process: per key, one GCRA time and one month counter, in one map entry. Month counters
 * start from what storage counted, so a restart does not hand out a fresh quota.
 */
export class MemoryLimiter implements Limiter {
  readonly #keys = new Map<string, KeyState>();
  readonly #seeding = new Map<string, Promise<void>>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(clock: Clock = systemClock) {
    this.#sweeper = setInterval(() => this.#sweep(clock.now()), 60_000);
    this.#sweeper.unref();
  }

  /** Synchronous unless this key's month has not been read from storage yet. */
  check(input: LimitCheck): LimitResult | Promise<LimitResult> {
    let state = this.#keys.get(input.keyId);
    if (!state) {
      state = { tat: 0, month: '', used: 0 };
      this.#keys.set(input.keyId, state);
    }
    if (input.quota && state.month !== input.quota.month) return this.#seed(input, state).then(() => this.#decide(input, state));
    return this.#decide(input, state);
  }

  #decide({ now, rate, quota }: LimitCheck, state: KeyState): LimitResult {
    const r = rate ? evaluateGcra({ tat: state.tat, now, limit: rate.limit, periodMs: rate.periodMs }) : null;
    const q = quota ? evaluateQuota(state.used, quota.limit, quota.resetAt, now) : null;
    if ((r === null || r.allowed) && (q === null || q.allowed)) {
      if (r) state.tat = r.tat;
      if (q) state.used++;
    }
    return { rate: r, quota: q };
  }

  /** One storage read per key and month, however many requests arrive while it runs. */
  #seed(input: LimitCheck, state: KeyState): Promise<void> {
    const quota = input.quota as NonNullable<LimitCheck['quota']>;
    const id = `${input.keyId}:${quota.month}`;
    let pending = this.#seeding.get(id);
    if (!pending) {
      pending = quota.seed().then(
        (used) => {
          this.#seeding.delete(id);
          if (state.month !== quota.month) {
            state.month = quota.month;
            state.used = used;
          }
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

  #sweep(now: number): void {
    const month = monthOf(now);
    for (const [key, s] of this.#keys) if (s.tat < now && s.month !== month) this.#keys.delete(key);
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
  }
}
