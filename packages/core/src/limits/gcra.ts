/**
 * Rate limiting as a pure decision: GCRA (the generic cell rate algorithm), the sliding-window limiter that
 * keeps one number per key. `limit` requests per `periodMs` may arrive in a burst; after that they are let
 * through as the budget refills, one every `periodMs / limit`. The caller stores `tat` when the request is
 * allowed; the Redis backend runs the same arithmetic in Lua.
 */
export interface GcraInput {
  /** Theoretical arrival time stored for this key, or 0 when there is none. */
  tat: number;
  now: number;
  limit: number;
  periodMs: number;
  /** Requests this decision takes at once, all or none (1 when absent): a lease takes several. */
  count?: number;
  /**
   * How long the requests taken must stay counted (0 when absent): a lease's requests may be answered until its end,
   * so they are counted in slots that end no sooner, as if they came then. An idle key thus lends a little less.
   */
  holdMs?: number;
}

export interface LimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Milliseconds until the whole budget is available again: the `RateLimit-Reset` header. */
  resetMs: number;
  /** Milliseconds until the next request would be allowed: `Retry-After` when denied, else 0. */
  retryAfterMs: number;
}

export function evaluateGcra({ tat, now, limit, periodMs, count = 1, holdMs = 0 }: GcraInput): LimitDecision & { tat: number } {
  const interval = periodMs / limit;
  const base = Math.max(tat, now + holdMs);
  const next = base + count * interval;
  const allowAt = next - periodMs;
  if (allowAt > now) {
    return {
      allowed: false,
      tat,
      limit,
      remaining: 0,
      resetMs: Math.ceil(base - now),
      retryAfterMs: Math.ceil(allowAt - now),
    };
  }
  return {
    allowed: true,
    tat: next,
    limit,
    remaining: Math.max(0, Math.floor((now - allowAt) / interval)),
    resetMs: Math.ceil(next - now),
    retryAfterMs: 0,
  };
}

/** A monthly quota: allowed while the `count` requests taken now (1 unless a lease) fit in what is left of `limit`. */
export function evaluateQuota(used: number, limit: number, resetAt: number, now: number, count = 1): LimitDecision {
  const allowed = used + count <= limit;
  return {
    allowed,
    limit,
    remaining: Math.max(0, limit - used - (allowed ? count : 0)),
    resetMs: resetAt - now,
    retryAfterMs: allowed ? 0 : resetAt - now,
  };
}

/** A credit budget: what is left after a request of `cost` credits, and whether it may spend them. */
export interface BudgetDecision {
  allowed: boolean;
  limit: number;
  /** Credits left after this request (when allowed) or now (when not). */
  remaining: number;
}

/**
 * A credit budget: allowed while what was spent plus this request's cost stays within `limit`. A request the
 * budget cannot pay in full is refused, and spends nothing.
 */
export function evaluateBudget(spent: number, limit: number, cost: number): BudgetDecision {
  const allowed = spent + cost <= limit;
  return { allowed, limit, remaining: Math.max(0, limit - spent - (allowed ? cost : 0)) };
}
