import { hash as oneShotHash } from 'node:crypto';
import {
  ERROR_STATUS,
  hashKey,
  type KeyFormat,
  type LimitDecision,
  monthOf,
  nextMonthStart,
  type Scope,
  scopeAllows,
  scopeForMethod,
  VERIFY_CODE_ERROR,
  type VerifyCode,
  type VerifyReason,
} from '@keyward/core';
import type { Logger } from 'pino';
import type { CachedKey, KeyCache } from '../cache/key-cache.js';
import type { KeywardConfig } from '../config/config.js';
import type { Clock } from '../ids.js';
import type { Limiter, LimitResult } from '../limits/limiter.js';
import type { KeyForVerify, Store } from '../storage/store.js';
import type { Throttles } from '../throttle/throttles.js';
import type { UsageRecorder } from '../usage/usage-recorder.js';
import { lineageMonthUsage } from '../usage/usage-report.js';
import type { Notices } from '../webhooks/notices.js';
import { decidePolicy } from './decide.js';

export interface VerifyInput {
  key: string;
  environment?: string;
  /** The scope the request needs; when absent and `method` is given, the method's default. */
  scope?: Scope;
  method?: string;
  path?: string;
  ip?: string;
}

/**
 * What the RateLimit-* headers say: the tighter of the per-minute and monthly budgets, `reset` in seconds. The same
 * shape as the verify endpoint's `ratelimit` and the middleware's `RateLimitInfo`, so it passes through as it is.
 */
export interface RateLimitState {
  limit: number;
  remaining: number;
  reset: number;
}

export type VerifyResult =
  | { valid: true; key: KeyForVerify; scope: Scope; ratelimit: RateLimitState | null }
  | {
      valid: false;
      code: VerifyCode;
      reason: VerifyReason;
      message: string;
      /** For INSUFFICIENT_SCOPE: the scope needed and the key's effective one. */
      requiredScope?: Scope;
      keyScope?: Scope;
      key?: KeyForVerify;
      ratelimit?: RateLimitState | null;
      retryAfterSeconds?: number;
    };

export interface VerifierDeps {
  config: KeywardConfig;
  format: KeyFormat;
  store: Store;
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
  malformed: {
    valid: false,
    code: 'NOT_FOUND',
    reason: 'malformed',
    message: 'This is not an API key of this server: its form or prefix is wrong.',
  },
  bad_checksum: {
    valid: false,
    code: 'NOT_FOUND',
    reason: 'bad_checksum',
    message: "The API key's checksum does not match: it was mistyped or cut short. Copy it again.",
  },
  unknown: { valid: false, code: 'NOT_FOUND', reason: 'unknown', message: 'The API key is unknown.' },
} as const satisfies Record<string, VerifyResult>;
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

  verify(input: VerifyInput): VerifyResult | Promise<VerifyResult> {
    const now = this.deps.clock.now();
    if (input.ip) {
      const blocked = this.deps.throttles.keyGuessingBlocked(input.ip, now);
      if (blocked > 0) return guessing(blocked);
    }
    const cacheKey = cacheKeyOf(input.key);
    const entry = this.deps.cache.get(cacheKey, now);
    if (entry === undefined) return this.#verifyMiss(input, cacheKey);
    return this.#decide(entry, input, now);
  }

  async #verifyMiss(input: VerifyInput, cacheKey: string): Promise<VerifyResult> {
    const { format, store, cache, config } = this.deps;
    const parsed = format.parse(input.key);
    if (!parsed.ok) return this.#unknown(input, this.deps.clock.now(), parsed.reason === 'bad_checksum' ? 'bad_checksum' : 'malformed');
    const found = await store.findKeyForVerify(hashKey(config.secret, input.key));
    const now = this.deps.clock.now();
    return this.#decide(cache.set(cacheKey, found, now), input, now);
  }

  /** A key that does not exist: charged to the client's address, whose key checks answer 429 past the budget. */
  #unknown(input: VerifyInput, now: number, why: Unknown = 'unknown'): VerifyResult | Promise<VerifyResult> {
    const refusal = NOT_FOUND[why];
    if (!input.ip) return refusal;
    const blocked = this.deps.throttles.unknownKey(input.ip, now);
    if (blocked instanceof Promise) return blocked.then((ms) => (ms > 0 ? guessing(ms) : refusal));
    return blocked > 0 ? guessing(blocked) : refusal;
  }

  #decide(entry: CachedKey | null, input: VerifyInput, now: number): VerifyResult | Promise<VerifyResult> {
    if (!entry) return this.#unknown(input, now);
    const key = entry.key;
    const required = input.scope ?? (input.method ? scopeForMethod(input.method) : undefined);
    // The common case in a few comparisons; anything that may be refused goes through the full policy, which
    // says why.
    const passes =
      now < entry.deadline &&
      entry.scope !== null &&
      entry.allowlist === null &&
      (input.environment === undefined || input.environment === key.environment) &&
      (required === undefined || scopeAllows(entry.scope, required));
    const policy = passes
      ? { ok: true as const, scope: entry.scope as Scope }
      : decidePolicy(key, entry.allowlist, input.environment, required, input.ip, now, this.deps.config.environments);
    if (!policy.ok) {
      this.#record(key, input, now, false, policy.code);
      const { ok: _, ...refusal } = policy;
      return { valid: false, ...refusal, key };
    }
    const plan = entry.plan;
    if (plan.requestsPerMinute === null && plan.monthlyRequests === null) {
      this.#record(key, input, now, true);
      return { valid: true, key, scope: policy.scope, ratelimit: null };
    }
    // Limits belong to the lineage: a key and its rotated successors share one budget.
    const limits = this.deps.limiter.check({
      keyId: key.lineageId,
      now,
      rate: plan.requestsPerMinute === null ? null : { limit: plan.requestsPerMinute, periodMs: 60_000 },
      quota:
        plan.monthlyRequests === null
          ? null
          : {
              limit: plan.monthlyRequests,
              month: monthOf(now),
              resetAt: nextMonthStart(now),
              seed: () => this.monthUsage(key.lineageId, now),
            },
    });
    if (limits instanceof Promise) return limits.then((l) => this.#applyLimits(key, policy.scope, input, now, l));
    return this.#applyLimits(key, policy.scope, input, now, limits);
  }

  #applyLimits(key: KeyForVerify, scope: Scope, input: VerifyInput, now: number, limits: LimitResult): VerifyResult {
    const ratelimit = rateLimitState(limits.rate, limits.quota);
    const notices = this.deps.notices;
    if (notices && limits.quota) notices.quotaUsed(key, limits.quota.limit - limits.quota.remaining, limits.quota.limit, now);
    if (notices && limits.rate && !limits.rate.allowed) notices.rateLimited(key, limits.rate.limit, now);
    if (limits.quota && !limits.quota.allowed) {
      this.#record(key, input, now, false, 'QUOTA_EXCEEDED');
      return {
        valid: false,
        code: 'QUOTA_EXCEEDED',
        reason: 'quota_exceeded',
        message: `This API key has used its monthly quota of ${limits.quota.limit} requests; it resets at ${new Date(now + limits.quota.resetMs).toISOString()}.`,
        key,
        ratelimit,
        retryAfterSeconds: Math.max(1, Math.ceil(limits.quota.retryAfterMs / 1000)),
      };
    }
    if (limits.rate && !limits.rate.allowed) {
      this.#record(key, input, now, false, 'RATE_LIMITED');
      return {
        valid: false,
        code: 'RATE_LIMITED',
        reason: 'rate_limited',
        message: `This API key is limited to ${limits.rate.limit} requests per minute.`,
        key,
        ratelimit,
        retryAfterSeconds: Math.max(1, Math.ceil(limits.rate.retryAfterMs / 1000)),
      };
    }
    this.#record(key, input, now, true);
    return { valid: true, key, scope, ratelimit };
  }

  /** Allowed requests this month by every key of a lineage: what storage holds plus what is still queued. */
  monthUsage(lineageId: string, now: number): Promise<number> {
    return lineageMonthUsage(this.deps.store, this.deps.usage, lineageId, now);
  }

  #record(key: KeyForVerify, input: VerifyInput, at: number, allowed: boolean, deniedCode?: VerifyCode) {
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
    );
  }
}

/** The answer to every key check from an address that sent too many unknown keys, until its wait is over. */
function guessing(waitMs: number): VerifyResult {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return {
    valid: false,
    code: 'RATE_LIMITED',
    reason: 'too_many_unknown_keys',
    message: `Too many unknown API keys from this address; try again in ${seconds} s.`,
    retryAfterSeconds: seconds,
  };
}

function rateLimitState(rate: LimitDecision | null, quota: LimitDecision | null): RateLimitState | null {
  const tight = rate && quota ? (quota.remaining < rate.remaining ? quota : rate) : (rate ?? quota);
  if (!tight) return null;
  return { limit: tight.limit, remaining: tight.remaining, reset: Math.max(0, Math.ceil(tight.resetMs / 1000)) };
}
