import type { ErrorCode } from './codes.js';

/** Why a key did not verify. A closed set: the verify endpoint answers with exactly these. */
export const VERIFY_CODES = [
  'NOT_FOUND',
  'REVOKED',
  'EXPIRED',
  'WRONG_ENVIRONMENT',
  'INSUFFICIENT_SCOPE',
  'IP_NOT_ALLOWED',
  'RATE_LIMITED',
  'QUOTA_EXCEEDED',
  'BUDGET_EXHAUSTED',
  'WRONG_RESOURCE',
] as const;

export type VerifyCode = (typeof VERIFY_CODES)[number];

/**
 * What exactly went wrong, for the person reading a refusal: `error.reason` on a protected route's 401/403/429 and
 * `reason` in the verify answer. Finer than the code, never finer than the caller may know: a malformed key, a
 * mistyped one (its checksum fails) and an unknown one are told apart from the text alone, so saying which tells
 * nobody whether a well-formed key exists.
 */
export const VERIFY_REASONS = [
  'missing',
  'malformed',
  'bad_checksum',
  'unknown',
  'revoked',
  'creator_removed',
  'expired',
  'idle_expired',
  'retired_environment',
  'wrong_environment',
  'ip_not_allowed',
  'insufficient_scope',
  'rate_limited',
  'quota_exceeded',
  'budget_exhausted',
  'wrong_resource',
  'too_many_unknown_keys',
] as const;

export type VerifyReason = (typeof VERIFY_REASONS)[number];

/** How a failed verification reads as an HTTP error on a protected route. */
export const VERIFY_CODE_ERROR: Record<VerifyCode, ErrorCode> = {
  NOT_FOUND: 'unauthorized',
  REVOKED: 'unauthorized',
  EXPIRED: 'unauthorized',
  WRONG_ENVIRONMENT: 'unauthorized',
  INSUFFICIENT_SCOPE: 'forbidden',
  IP_NOT_ALLOWED: 'forbidden',
  RATE_LIMITED: 'rate_limited',
  QUOTA_EXCEEDED: 'quota_exceeded',
  BUDGET_EXHAUSTED: 'budget_exhausted',
  WRONG_RESOURCE: 'unauthorized',
};
