export {
  DEFAULT_MESSAGES,
  ERROR_STATUS,
  type ErrorBody,
  type ErrorCode,
  type ErrorDetails,
  explainError,
  isErrorCode,
  KEY_TEXT_WORDS,
  KeywardError,
  keyRefusal,
  refusalWords,
} from './errors/codes.js';
export { VERIFY_CODE_ERROR, VERIFY_CODES, VERIFY_REASONS, type VerifyCode, type VerifyReason } from './errors/verify-codes.js';
export {
  budgetHeaders,
  clientAddress,
  type HttpFailure,
  MISSING_KEY,
  parseBearer,
  rateLimitHeaders,
  refusalFailure,
  unavailableFailure,
} from './http/request-facts.js';
export { explainingFetch } from './http/unreachable.js';
export { BASE62_ALPHABET, encodeBase62, isBase62, randomBase62 } from './keys/base62.js';
export { CHECKSUM_LENGTH, checksumOf } from './keys/checksum.js';
export { constantTimeEqual, hashKey } from './keys/hash.js';
export {
  checksumMatches,
  displayKey,
  generateKey,
  KEY_BODY_LENGTH,
  type KeyEnvironment,
  KeyFormat,
  type ParsedKey,
  type ParseResult,
  RANDOM_LENGTH,
} from './keys/key-format.js';
export { fitKeyName, importedKeyName, KEY_NAME_MAX, KEY_NAME_RULE, keyNameProblem } from './keys/key-name.js';
export {
  headsLineage,
  idleDeadline,
  type KeyFacts,
  type KeyState,
  type KeyStatus,
  keyState,
  type ServedEnvironments,
  shownStatus,
} from './keys/key-state.js';
export { Secret } from './keys/redacted.js';
export { type FoundKey, findKeys } from './keys/scan.js';
export {
  type BudgetDecision,
  evaluateBudget,
  evaluateGcra,
  evaluateQuota,
  type GcraInput,
  type LimitDecision,
} from './limits/gcra.js';
export { dayOf, monthOf, nextMonthStart, secondsUntil } from './limits/windows.js';
export { type AddressAllowlist, chainAllowlist, cidrWithin, effectiveAllowlist } from './policy/allowlist-chain.js';
export { type Cidr, IpAllowlist, ipv6Bytes, normalizeIp, parseCidr } from './policy/ip-allowlist.js';
export {
  DEFAULT_KEY_SCOPE,
  effectiveScope,
  isScope,
  lowerScope,
  ROLES,
  type Role,
  SCOPE_DESCRIPTIONS,
  SCOPES,
  type Scope,
  scopeAllows,
  scopeForMethod,
} from './policy/scopes.js';
export {
  type BudgetInfo,
  type CacheHint,
  fromWire,
  type KeyVerifier,
  type RateLimitInfo,
  toWire,
  type VerifiedKey,
  VerifierUnavailableError,
  type VerifyOutcome,
  type VerifyRefusal,
  type VerifyRequest,
  type VerifyWire,
  VerifyWireError,
} from './verify/contract.js';
