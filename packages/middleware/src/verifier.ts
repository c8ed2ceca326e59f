import type { Scope, VerifyCode } from '@keyward/core';

/** What a protected API asks about a key. */
export interface VerifyRequest {
  key: string;
  environment?: string;
  scope?: Scope;
  method?: string;
  path?: string;
  ip?: string;
}

export interface RateLimitInfo {
  limit: number;
  remaining: number;
  /** Seconds until the budget is whole again. */
  reset: number;
}

/** The key that made a request, as route handlers see it (`request.keyward`, `req.keyward`, `c.get('keyward')`). */
export interface VerifiedKey {
  id: string;
  name: string;
  environment: string;
  /** Effective scope: the key's own, capped by its creator's current role. */
  scope: Scope;
  organizationId: string;
  metadata: Record<string, unknown>;
}

export type VerifyOutcome =
  | { valid: true; key: VerifiedKey; ratelimit: RateLimitInfo | null }
  | { valid: false; code: VerifyCode; message: string; retryAfterSeconds?: number; ratelimit?: RateLimitInfo | null };

/**
 * Anything that can verify a key: the keyward server in the same process (`inProcessVerifier` from
 * `@keyward/server`) or a remote one (`remoteVerifier`). Synchronous answers are allowed and keep the hot path free
 * of promises.
 */
export interface KeyVerifier {
  verify(request: VerifyRequest): VerifyOutcome | Promise<VerifyOutcome>;
}
