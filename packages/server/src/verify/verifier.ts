import { hash as oneShotHash } from 'node:crypto';
import {
  type BudgetDecision,
  type BudgetInfo,
  ERROR_STATUS,
  KEY_TEXT_WORDS,
  type LimitDecision,
  monthOf,
  nextMonthStart,
  type RateLimitInfo,
  scopeAllows,
  scopeForMethod,
  VERIFY_CODE_ERROR,
  type VerifyCode,
  type VerifyOutcome,
  type VerifyReason,
  type VerifyRefusal,
  type VerifyRequest,
} from '@keyward/core';
import type { Logger } from 'pino';
import type { KeywardConfig } from '../config/config.js';
import type { Environments } from '../config/environments.js';
import type { Clock } from '../ids.js';
import type { Limiter, LimitResult, Meter, MeterResult } from '../limits/limiter.js';
import type { KeyForVerify, KeyStore, UsageStore } from '../storage/store.js';
import type { Throttles } from '../throttle/throttles.js';
import type { UsageRecorder } from '../usage/usage-recorder.js';
import { lineageCreditsSpent, lineageMonthUsage } from '../usage/usage-report.js';
import type { Notices } from '../webhooks/notices.js';
import { decidePolicy } from './decide.js';
import type { CachedKey, CheckedKey, KeyCache, MeterSpec } from './key-cache.js';
import type { KeyLookup } from './key-lookup.js';

/** What the verifier answers: the contract's outcome, a valid one carrying the key's stored record for the server's routes. */
type Checked = VerifyOutcome<CheckedKey>;
type Refused = VerifyRefusal & { reason: VerifyReason };

export interface VerifierDeps {
  config: KeywardConfig;
  environments: Environments;
  /** From a raw key to its row (or why its text says it is none). */
  lookup: KeyLookup;
  store: KeyStore & UsageStore;
  cache: KeyCache;
  limiter: Limiter;
  usage: UsageRecorder;
  clock: Clock;
  logger: Logger;
  throttles: Throttles;
  /** Webhook notices a request can cause (a quota threshold, a rate limit hit); queued, never awaited. */
  notices?: Notices;
}

/** A key that does not exist, by what its text alone shows: not a key of ours, mistyped (checksum), or unknown. */
const NOT_FOUND = {
  malformed: { valid: false, code: 'NOT_FOUND', reason: 'malformed', message: KEY_TEXT_WORDS.malformed },
  bad_checksum: { valid: false, code: 'NOT_FOUND', reason: 'bad_checksum', message: KEY_TEXT_WORDS.bad_checksum },
  unknown: { valid: false, code: 'NOT_FOUND', reason: 'unknown', message: 'The API key is unknown.' },
} as const satisfies Record<string, Refused>;
type Unknown = keyof typeof NOT_FOUND;

/** The in-memory cache key: a plain SHA-256, never stored. Storage is indexed by the keyed hash (HMAC) instead. */
export function cacheKeyOf(raw: string): string {
  return oneShotHash('sha256', raw, 'base64');
}

/**
 * The verify path, top to bottom: hash → look up (cache, then storage, parsing the format first so that made-up
 * keys never reach it) → decide (policy, then limits) → record (queued, not awaited). A cache hit whose limits can
 * be answered from memory returns synchronously; everything else returns a promise. Never throws for a bad key.
 */
export class Verifier {
  constructor(private readonly deps: VerifierDeps) {}

  verify(input: VerifyRequest): Checked | Promise<Checked> {
    const now = this.deps.clock.now();
    // No throttle here: the unknown-key throttle refuses guesses, not keys, so only a key that turns out unknown
    // (below, in #unknown) meets it, and a cache hit costs nothing more.
    const cacheKey = cacheKeyOf(input.key);
    const entry = this.deps.cache.get(cacheKey, now);
    if (entry === undefined) return this.#verifyMiss(input, cacheKey);
    return this.#decide(entry, input, now, cacheKey);
  }

  async #verifyMiss(input: VerifyRequest, cacheKey: string): Promise<Checked> {
    const { lookup, cache, logger } = this.deps;
    const found = await lookup.find(input.key);
    const now = this.deps.clock.now();
    if (!found.ok) return this.#unknown(input, now, found.reason);
    const result = await this.#decide(cache.set(cacheKey, found.key, now), input, now);
    if (found.imported && result.valid) {
      const id = found.key?.id;
      lookup.adopt(found, input.key).catch((err) => logger.warn({ err, keyId: id }, 'could not re-hash an imported key'));
    }
    return result;
  }

  /** A key that does not exist: charged to the client's address, whose unknown keys answer 429 past the budget. */
  #unknown(input: VerifyRequest, now: number, why: Unknown = 'unknown'): Checked | Promise<Checked> {
    const refusal = NOT_FOUND[why];
    if (!input.ip) return refusal;
    const blocked = this.deps.throttles.unknownKey(input.ip, now);
    if (blocked instanceof Promise) return blocked.then((ms) => (ms > 0 ? guessing(ms) : refusal));
    return blocked > 0 ? guessing(blocked) : refusal;
  }

  /**
   * A raw key's cached look-up, read from storage when not cached (null: no such key). For leases, which count a
   * key's limits without a request, so nothing is recorded and no throttle applies (only verifiers ask).
   */
  async entryOf(raw: string): Promise<CachedKey | null> {
    const cacheKey = cacheKeyOf(raw);
    const cached = this.deps.cache.get(cacheKey, this.deps.clock.now());
    if (cached !== undefined) return cached;
    const found = await this.deps.lookup.find(raw);
    if (!found.ok) return null;
    return this.deps.cache.set(cacheKey, found.key, this.deps.clock.now());
  }

  /** `cachedAs` is the cache key when the entry came from the cache (and may be older than storage's facts). */
  #decide(entry: CachedKey | null, input: VerifyRequest, now: number, cachedAs?: string): Checked | Promise<Checked> {
    if (!entry) return this.#unknown(input, now);
    const key = entry.key;
    const required = input.scope ?? (input.method ? scopeForMethod(input.method) : undefined);
    // The common case in a few comparisons; anything that may be refused goes through the full policy, which
    // says why.
    const checked = entry.checked;
    const passes =
      checked !== null &&
      now < entry.state.deadline &&
      entry.allowlist === null &&
      (input.environment === undefined || input.environment === key.environment) &&
      (input.resource === undefined || key.resource === null) &&
      (required === undefined || scopeAllows(checked.scope, required));
    if (!passes) {
      const policy = decidePolicy(
        entry,
        { environment: input.environment, required, ip: input.ip, resource: input.resource },
        now,
        this.deps.environments,
      );
      if (!policy.ok) {
        // Idleness as this instance saw it; another instance may have used the key since, and its flush told
        // storage: look again before saying so (accurate to the usage flush window).
        if (policy.reason === 'idle_expired' && cachedAs !== undefined) return this.#verifyMiss(input, cachedAs);
        this.#record(key, input, now, false, 0, policy.code);
        const { ok: _, ...refusal } = policy;
        return { valid: false, ...refusal, keyId: key.id, environment: key.environment };
      }
    }
    // A key that passes works now, so its look-up found it working: `checked` is set.
    const verified = checked as CheckedKey;
    const cost = input.cost ?? 1;
    if (key.idleTimeoutSeconds !== null) this.deps.cache.touch(entry, now);
    if (entry.meters.length === 0) {
      this.#record(key, input, now, true, cost);
      return { valid: true, key: verified, ratelimit: null, budget: null, cache: entry.hint };
    }
    // Limits belong to lineages (a key and its rotated successors share them), and a child key's requests count
    // towards every ancestor's limits too: one meter per key of the chain that has any.
    const limits = this.deps.limiter.check({ now, cost, meters: this.metersOf(entry, now) });
    if (limits instanceof Promise) return limits.then((l) => this.#applyLimits(entry, verified, input, now, cost, l));
    return this.#applyLimits(entry, verified, input, now, cost, limits);
  }

  /** The limiter's meters of a cached key, built once per entry and month (they name the month they count). */
  metersOf(entry: CachedKey, now: number): Meter[] {
    if (entry.built && now < entry.built.until) return entry.built.meters;
    const { store, usage } = this.deps;
    const month = monthOf(now);
    const resetAt = nextMonthStart(now);
    const meters = entry.meters.map(
      (m): Meter => ({
        id: m.lineageId,
        rate: m.requestsPerMinute === null ? null : { limit: m.requestsPerMinute, periodMs: 60_000 },
        quota:
          m.monthlyRequests === null ? null : { limit: m.monthlyRequests, month, resetAt, seed: () => this.monthUsage(m.lineageId, now) },
        budget: m.budget === null ? null : { limit: m.budget, seed: () => lineageCreditsSpent(store, usage, m.lineageId) },
      }),
    );
    entry.built = { until: resetAt, meters };
    return meters;
  }

  #applyLimits(entry: CachedKey, verified: CheckedKey, input: VerifyRequest, now: number, cost: number, limits: LimitResult): Checked {
    const key = entry.key;
    const notices = this.deps.notices;
    if (notices) {
      for (let i = 0; i < limits.meters.length; i++) {
        const m = limits.meters[i] as MeterResult;
        if ((entry.meters[i] as MeterSpec).keyId !== key.id) continue;
        if (m.quota) notices.quotaUsed(key, m.quota.limit - m.quota.remaining, m.quota.limit, now);
        if (m.rate && !m.rate.allowed) notices.rateLimited(key, m.rate.limit, now);
      }
    }
    const { ratelimit, budget } = headlineOf(limits);
    if (limits.allowed) {
      this.#record(key, input, now, true, cost);
      return { valid: true, key: verified, ratelimit, budget, cache: entry.hint };
    }
    const refusal = this.#refusal(entry, limits, now, cost);
    this.#record(key, input, now, false, 0, refusal.code);
    return { ...refusal, keyId: key.id, environment: key.environment, ratelimit, budget };
  }

  /** Why limits refused a request: the most lasting refusal first (a spent budget, then the month, then the minute). */
  #refusal(entry: CachedKey, limits: LimitResult, now: number, cost: number): Refused {
    const refused = <T extends keyof MeterResult>(kind: T) => {
      for (let i = 0; i < limits.meters.length; i++) {
        const d = (limits.meters[i] as MeterResult)[kind];
        if (d && !d.allowed) {
          const own = (entry.meters[i] as MeterSpec).keyId === entry.key.id;
          return { d: d as NonNullable<MeterResult[T]>, whose: own ? 'This API key' : 'The key this API key was derived from' };
        }
      }
      return null;
    };
    const spent = refused('budget');
    if (spent) {
      return {
        valid: false,
        code: this.deps.config.budgets.exhaustedStatus === 402 ? 'BUDGET_EXHAUSTED' : 'QUOTA_EXCEEDED',
        reason: 'budget_exhausted',
        message: `${spent.whose} has spent its credit budget of ${spent.d.limit}: ${spent.d.remaining} left, this request costs ${cost}.`,
      };
    }
    const month = refused('quota');
    if (month) {
      return {
        valid: false,
        code: 'QUOTA_EXCEEDED',
        reason: 'quota_exceeded',
        message: `${month.whose} has used its monthly quota of ${month.d.limit} requests; it resets at ${new Date(now + month.d.resetMs).toISOString()}.`,
        retryAfterSeconds: Math.max(1, Math.ceil(month.d.retryAfterMs / 1000)),
      };
    }
    const minute = refused('rate');
    return {
      valid: false,
      code: 'RATE_LIMITED',
      reason: 'rate_limited',
      message: `${minute?.whose ?? 'This API key'} is limited to ${minute?.d.limit ?? 0} requests per minute.`,
      retryAfterSeconds: Math.max(1, Math.ceil((minute?.d.retryAfterMs ?? 1000) / 1000)),
    };
  }

  /** Allowed requests this month by every key of a lineage and its descendants: what its quota has counted. */
  monthUsage(lineageId: string, now: number): Promise<number> {
    return lineageMonthUsage(this.deps.store, this.deps.usage, lineageId, now);
  }

  #record(key: KeyForVerify, input: VerifyRequest, at: number, allowed: boolean, credits: number, deniedCode?: VerifyCode) {
    this.deps.usage.record(
      key.id,
      key.orgId,
      allowed,
      at,
      input.method ?? 'VERIFY',
      input.path ?? '',
      allowed ? 200 : ERROR_STATUS[VERIFY_CODE_ERROR[deniedCode ?? 'NOT_FOUND']],
      input.ip ?? '',
      deniedCode,
      credits,
    );
  }
}

/** What the rate-limit headers and the budget of an answer say. */
export interface Headline {
  ratelimit: RateLimitInfo | null;
  budget: BudgetInfo | null;
}

/** The tightest per-minute or monthly limit, and the tightest budget, of the whole chain of meters. */
export function headlineOf(limits: LimitResult): Headline {
  let tight: LimitDecision | null = null;
  let tightBudget: BudgetDecision | null = null;
  for (const m of limits.meters) {
    if (m.rate && (tight === null || m.rate.remaining < tight.remaining)) tight = m.rate;
    if (m.quota && (tight === null || m.quota.remaining < tight.remaining)) tight = m.quota;
    if (m.budget && (tightBudget === null || m.budget.remaining < tightBudget.remaining)) tightBudget = m.budget;
  }
  return {
    ratelimit: tight && { limit: tight.limit, remaining: tight.remaining, reset: Math.max(0, Math.ceil(tight.resetMs / 1000)) },
    budget: tightBudget && { limit: tightBudget.limit, remaining: tightBudget.remaining },
  };
}

/** The answer to every key check from an address that sent too many unknown keys, until its wait is over. */
function guessing(waitMs: number): Refused {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return {
    valid: false,
    code: 'RATE_LIMITED',
    reason: 'too_many_unknown_keys',
    message: `Too many unknown API keys from this address; try again in ${seconds} s.`,
    retryAfterSeconds: seconds,
  };
}
