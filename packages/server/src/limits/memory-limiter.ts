import { evaluateGcra, evaluateQuota } from '@keyward/core';
import type { LimitCheck, Limiter, LimitResult } from './limiter.js';

/**
 * Limits inside one process: a GCRA time per key and a counter per key and month. Monthly counters start from
 * what storage counted, so a restart does not hand out a fresh quota.
 */
export class MemoryLimiter implements Limiter {
  readonly #tat = new Map<string, number>();
  readonly #months = new Map<string, number>();
  readonly #seeding = new Map<string, Promise<number>>();
  readonly #sweeper: NodeJS.Timeout;

  constructor() {
    this.#sweeper = setInterval(() => this.#sweep(Date.now()), 60_000);
    this.#sweeper.unref();
  }

  check(input: LimitCheck): LimitResult | Promise<LimitResult> {
    const { keyId, quota } = input;
    if (quota && !this.#months.has(`${keyId}:${quota.month}`)) {
      return this.#seed(`${keyId}:${quota.month}`, quota.seed).then(() => this.#decide(input));
    }
    return this.#decide(input);
  }

  #decide({ keyId, now, rate, quota }: LimitCheck): LimitResult {
    const monthKey = quota ? `${keyId}:${quota.month}` : '';
    const used = quota ? (this.#months.get(monthKey) ?? 0) : 0;
    const r = rate ? evaluateGcra({ tat: this.#tat.get(keyId) ?? 0, now, limit: rate.limit, periodMs: rate.periodMs }) : null;
    const q = quota ? evaluateQuota(used, quota.limit, quota.resetAt, now) : null;
    if ((r?.allowed ?? true) && (q?.allowed ?? true)) {
      if (r) this.#tat.set(keyId, r.tat);
      if (quota) this.#months.set(monthKey, used + 1);
    }
    return { rate: r, quota: q };
  }

  async peekQuota(keyId: string, month: string): Promise<number | null> {
    return this.#months.get(`${keyId}:${month}`) ?? null;
  }

  async #seed(monthKey: string, seed: () => Promise<number>): Promise<number> {
    let pending = this.#seeding.get(monthKey);
    if (!pending) {
      pending = seed();
      this.#seeding.set(monthKey, pending);
    }
    try {
      const value = await pending;
      if (!this.#months.has(monthKey)) this.#months.set(monthKey, value);
      return this.#months.get(monthKey) ?? value;
    } finally {
      this.#seeding.delete(monthKey);
    }
  }

  #sweep(now: number): void {
    for (const [key, tat] of this.#tat) if (tat < now) this.#tat.delete(key);
    const month = new Date(now).toISOString().slice(0, 7);
    for (const key of this.#months.keys()) if (!key.endsWith(month)) this.#months.delete(key);
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
  }
}
