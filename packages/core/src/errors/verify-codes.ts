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
] as const;

export type VerifyCode = (typeof VERIFY_CODES)[number];

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
};
