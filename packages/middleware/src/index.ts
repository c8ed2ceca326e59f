export {
  createGuard,
  type Decision,
  type Enforcement,
  type Guard,
  type GuardStats,
  type ProtectedResourceMetadata,
  type ProtectedResourceOptions,
  type ProtectOptions,
  protectedResourceMetadata,
  type RequestFacts,
  type RouteRule,
} from './protect.js';
export {
  type LocalCacheOptions,
  type RemoteVerifier,
  type RemoteVerifierLogger,
  type RemoteVerifierOptions,
  remoteVerifier,
  VerifierUnavailableError,
} from './remote-verifier.js';
export type { BudgetInfo, KeyVerifier, RateLimitInfo, VerifiedKey, VerifyOutcome, VerifyRequest } from './verifier.js';
