import type { BudgetDecision, LimitDecision } from '@keyward/core';

/**
 * The counters one key's limits keep, by lineage (a key and its rotated successors share them): a per-minute
 * rate, a monthly quota and a credit budget, each null when the key has none.
 */
export interface Meter {
  id: string;
  rate: { limit: number; periodMs: number } | null;
  /** `seed` reads what storage already counted this month. */
  quota: { limit: number; month: string; resetAt: number; seed: () => Promise<number> } | null;
  /** `seed` reads the credits storage already counted as spent. */
  budget: { limit: number; seed: () => Promise<number> } | null;
}

/**
 * One request (or a lease of several) against every meter it counts towards: the key's own, then each ancestor's
 * (a child key's requests count towards its parent's limits too). `cost` is what it spends from budgets; rates and
 * quotas count `count`.
 */
export interface LimitCheck {
  now: number;
  cost: number;
  meters: Meter[];
  /**
   * How many requests this check counts against rates and quotas (1 when absent): a verifier's lease takes several
   * at once, all of them or none. Budgets spend `cost`, the credits of all of them together.
   */
  count?: number;
  /** How long these requests must stay counted in each rate (0 when absent): a lease's, until it ends. */
  holdMs?: number;
}

/** A meter as a lease names it: enough to give its counts back, without reading storage. */
export interface MeterRef {
  id: string;
  rate: { limit: number; periodMs: number } | null;
  /** The month whose quota the lease counted in; nothing is given back to another month's. */
  quotaMonth: string | null;
  budget: boolean;
}

/**
 * What a lease took and did not use, given back once: `id` names the lease, and a second give-back of the same id
 * does nothing (a verifier may retry a return whose answer it lost).
 */
export interface GiveBack {
  id: string;
  now: number;
  /** Requests to give back to every quota (never below 0), and to every rate unless `rateCount` says otherwise. */
  count: number;
  /**
   * Requests to give back to every rate (its time moves back, never below now): only those whose slots have not
   * ended yet, or later requests would take slots already counted as gone (`count` when absent).
   */
  rateCount?: number;
  /** Credits to give back to every budget (never below 0). */
  cost: number;
  meters: MeterRef[];
}

export interface MeterResult {
  rate: LimitDecision | null;
  quota: LimitDecision | null;
  budget: BudgetDecision | null;
}

export interface LimitResult {
  /** In the order of `meters`. */
  meters: MeterResult[];
  /** Whether every limit of every meter allowed the request, which was then counted in all of them. */
  allowed: boolean;
}

/**
 * Counts requests against keys' limits and decides. A request is charged only when every limit of every meter
 * allows it, all at once, so a client that is refused does not dig itself deeper and concurrent requests never
 * overspend (atomic in memory, one Lua script in Redis).
 */
export interface Limiter {
  /** Synchronous when the answer is in memory (the in-process limiter, once its counters are seeded). */
  /**
   * Which counters this is: a lease is given back only to the counters that lent it (not to another process's
   * memory, nor to counters read again from storage since, which never counted it).
   */
  readonly id: string;
  check(input: LimitCheck): LimitResult | Promise<LimitResult>;
  /** Gives back what a lease did not use; false when this lease was already given back. */
  giveBack(input: GiveBack): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Budgets fail closed: while the store that counts them cannot be asked, a request that would spend credits (a
 * cost above 0 against any meter with a budget) is refused, whatever `limiter.on_redis_error` says; per-minute
 * limits and quotas follow that setting. An uncounted spend could never be taken back, and a budget is money.
 */
export function spendsCredits(input: LimitCheck): boolean {
  return input.cost > 0 && input.meters.some((m) => m.budget !== null);
}

/** Whether a meter's three decisions all allow. */
export function meterAllows(m: MeterResult): boolean {
  return (m.rate === null || m.rate.allowed) && (m.quota === null || m.quota.allowed) && (m.budget === null || m.budget.allowed);
}
