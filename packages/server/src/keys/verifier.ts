import {
  hashKey,
  type KeyFormat,
  type LimitDecision,
  monthOf,
  nextMonthStart,
  type Scope,
  scopeForMethod,
  type VerifyCode,
} from '@keyward/core';
import type { Logger } from 'pino';
import type { CachedKey, KeyCache } from '../cache/key-cache.js';
import type { KeywardConfig } from '../config/config.js';
import type { Clock } from '../ids.js';
import type { Limiter } from '../limits/limiter.js';
import type { KeyForVerify, Store } from '../storage/store.js';
import type { UsageRecorder } from '../usage/usage-recorder.js';
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

/** What the RateLimit-* headers say: the tighter of the per-minute and monthly budgets. */
export interface RateLimitState {
  limit: number;
  remaining: number;
  resetSeconds: number;
}

export type VerifyResult =
  | { valid: true; key: KeyForVerify; scope: Scope; ratelimit: RateLimitState | null }
  | {
      valid: false;
      code: VerifyCode;
      message: string;
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
}

const MALFORMED = 'The API key is malformed or unknown.';

/**
 * The verify path, top to bottom: parse (format and checksum, no I/O) → hash → look up (cache, then storage) →
 * decide (policy, then limits) → record (queued, not awaited). Returns a result; never throws for a bad key.
 */
export class Verifier {
  constructor(private readonly deps: VerifierDeps) {}

  async verify(input: VerifyInput): Promise<VerifyResult> {
    const { config, format, cache, clock } = this.deps;
    if (!format.parse(input.key).ok) return { valid: false, code: 'NOT_FOUND', message: MALFORMED };
    const hash = hashKey(config.secret, input.key);
    let entry: CachedKey | null | undefined = cache.get(hash);
    if (entry === undefined) entry = cache.set(hash, await this.deps.store.findKeyForVerify(hash));
    if (!entry) return { valid: false, code: 'NOT_FOUND', message: MALFORMED };

    const now = clock.now();
    const key = entry.key;
    const required = input.scope ?? (input.method ? scopeForMethod(input.method) : undefined);
    const policy = decidePolicy(key, entry.allowlist, { ...input, scope: required }, now, config.environments);
    if (!policy.ok) {
      this.#record(key, input, now, false, policy.code);
      return { valid: false, code: policy.code, message: policy.message, key };
    }

    const limits = await this.#checkLimits(key, now);
    const ratelimit = rateLimitState(limits.rate, limits.quota);
    if (limits.quota && !limits.quota.allowed) {
      this.#record(key, input, now, false, 'QUOTA_EXCEEDED');
      return {
        valid: false,
        code: 'QUOTA_EXCEEDED',
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
        message: `This API key is limited to ${limits.rate.limit} requests per minute.`,
        key,
        ratelimit,
        retryAfterSeconds: Math.max(1, Math.ceil(limits.rate.retryAfterMs / 1000)),
      };
    }
    this.#record(key, input, now, true);
    return { valid: true, key, scope: policy.scope, ratelimit };
  }

  /** The plan a key is limited by: its tier, or its organization's plan. */
  planOf(key: Pick<KeyForVerify, 'tier' | 'orgPlan'>) {
    const { plans } = this.deps.config;
    return plans[key.tier] ?? plans[key.orgPlan] ?? { requestsPerMinute: null, monthlyRequests: null, maxActiveKeys: null };
  }

  async #checkLimits(key: KeyForVerify, now: number) {
    const plan = this.planOf(key);
    if (plan.requestsPerMinute === null && plan.monthlyRequests === null) return { rate: null, quota: null };
    const month = monthOf(now);
    return this.deps.limiter.check({
      keyId: key.id,
      now,
      rate: plan.requestsPerMinute === null ? null : { limit: plan.requestsPerMinute, periodMs: 60_000 },
      quota:
        plan.monthlyRequests === null
          ? null
          : {
              limit: plan.monthlyRequests,
              month,
              resetAt: nextMonthStart(now),
              seed: () => this.monthUsage(key.id, now),
            },
    });
  }

  /** Allowed requests this month: what storage holds plus what is still queued. */
  async monthUsage(keyId: string, now: number): Promise<number> {
    const month = monthOf(now);
    const stored = await this.deps.store.dailyUsage(keyId, `${month}-01`, `${month}-31`);
    const queued = this.deps.usage.pending(keyId).filter((d) => d.day.startsWith(month));
    return [...stored, ...queued].reduce((n, d) => n + d.allowed, 0);
  }

  #record(key: KeyForVerify, input: VerifyInput, at: number, allowed: boolean, deniedCode?: VerifyCode) {
    this.deps.usage.record({
      keyId: key.id,
      orgId: key.orgId,
      allowed,
      method: (input.method ?? 'VERIFY').slice(0, 16),
      path: (input.path ?? '').slice(0, 512),
      status: allowed
        ? 200
        : deniedCode === 'RATE_LIMITED' || deniedCode === 'QUOTA_EXCEEDED'
          ? 429
          : deniedCode === 'INSUFFICIENT_SCOPE' || deniedCode === 'IP_NOT_ALLOWED'
            ? 403
            : 401,
      ip: input.ip ?? '',
      at,
      ...(deniedCode ? { deniedCode } : {}),
    });
  }
}

function rateLimitState(rate: LimitDecision | null, quota: LimitDecision | null): RateLimitState | null {
  const tight = [rate, quota].filter((d): d is LimitDecision => d !== null).sort((a, b) => a.remaining - b.remaining)[0];
  if (!tight) return null;
  return { limit: tight.limit, remaining: tight.remaining, resetSeconds: Math.max(0, Math.ceil(tight.resetMs / 1000)) };
}
