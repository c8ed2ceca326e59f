/** The verify contract lives in `@keyward/core`, shared with the server; the middleware re-exports its types. */
export type { BudgetInfo, KeyVerifier, RateLimitInfo, VerifiedKey, VerifyOutcome, VerifyRequest } from '@keyward/core';
