import type { LimitDecision } from '@keyward/core';

export interface LimitCheck {
  keyId: string;
  now: number;
  /** Per-minute budget, or null when the plan has none. */
  rate: { limit: number; periodMs: number } | null;
  /** Monthly quota, or null when unlimited. `seed` reads what storage already counted this month. */
  quota: { limit: number; month: string; resetAt: number; seed: () => Promise<number> } | null;
}

export interface LimitResult {
  rate: LimitDecision | null;
  quota: LimitDecision | null;
}

/**
 * Counts requests against a key's limits and decides. A request is charged only when both limits allow it, so a
 * client that is refused does not dig itself deeper.
 */
export interface Limiter {
  /** Synchronous when the answer is in memory (the in-process limiter, once a key's month is known). */
  check(input: LimitCheck): LimitResult | Promise<LimitResult>;
  close(): Promise<void>;
}
