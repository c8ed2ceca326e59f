import { VERIFY_CODES, VERIFY_REASONS, type VerifyCode, type VerifyReason } from '../errors/verify-codes.js';
import { isScope, type Scope } from '../policy/scopes.js';

/**
 * The verify contract, once: what a protected API asks about a key, what it is told, and how both travel over
 * `POST /v1/keys/verify`. The server answers with `toWire`, the remote verifier reads with `fromWire`, and the
 * in-process verifier hands the same `VerifyOutcome` over without the wire.
 */
export interface VerifyRequest {
  key: string;
  environment?: string;
  scope?: Scope;
  method?: string;
  path?: string;
  ip?: string;
  /** Credits this request spends from the key's budget (and every ancestor's); 1 when absent. */
  cost?: number;
  /** The API the request is for (its base URL): a key bound to another resource is refused. */
  resource?: string;
}

/** A key's credit budget after this request: the tightest of its own and its ancestors'. */
export interface BudgetInfo {
  limit: number;
  remaining: number;
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
  /**
   * The key's organization and metadata: always from the in-process verifier; from the verify endpoint only to a
   * caller with a verifier credential (the remote verifier's `credential` option).
   */
  organizationId?: string;
  metadata?: Record<string, unknown>;
  tier?: string;
  ownerId?: string;
  /** Epoch milliseconds, or null when the key does not expire. */
  expiresAt?: number | null;
  /** The agent the key was issued to (a label), or null. */
  agent?: string | null;
  /** The key it was derived from, or null for a key made by a person. */
  parentId?: string | null;
}

/**
 * Why a key may not make a request: the code and message every caller answers with, and what a client needs to
 * act on it. The same for every verifier, so one mapping (`refusalFailure`) turns it into an HTTP answer.
 */
export interface VerifyRefusal {
  valid: false;
  code: VerifyCode;
  message: string;
  /** What exactly went wrong (absent from servers older than the field). */
  reason?: VerifyReason;
  /** For INSUFFICIENT_SCOPE: the scope the request needs and the one the key has. */
  requiredScope?: Scope;
  keyScope?: Scope;
  retryAfterSeconds?: number;
  ratelimit?: RateLimitInfo | null;
  budget?: BudgetInfo | null;
  /** The key's id and environment, when the key is known (never for NOT_FOUND). */
  keyId?: string;
  environment?: string;
}

/**
 * Whether a valid answer may be reused for the same request without asking again (the remote verifier's local
 * cache), and until when. Sent to verifier-credential callers only.
 */
export interface CacheHint {
  /**
   * The key or one of its ancestors has a per-minute limit, a monthly quota or a credit budget: each request must
   * be counted where the limit is kept, so the answer is reused only for requests paid from an allowance leased by
   * keyward (`POST /v1/verifier/leases`).
   */
  limited: boolean;
  /** Epoch milliseconds at which the key stops working (its expiry, or the end of a rotation's grace), or null. */
  until: number | null;
  /** The keys it was derived from, nearest first: a change to any of them changes this answer too. */
  ancestorIds: string[];
}

/**
 * The answer to a key check. `K` is the key a valid answer carries: `VerifiedKey` for the middleware and the wire;
 * the server's own routes get its stored record with the same answer (`VerifyOutcome<CheckedKey>`).
 */
export type VerifyOutcome<K = VerifiedKey> =
  | { valid: true; key: K; ratelimit: RateLimitInfo | null; budget?: BudgetInfo | null; cache?: CacheHint }
  | VerifyRefusal;

/**
 * Anything that can verify a key: the keyward server in the same process (`inProcessVerifier` from
 * `@keyward/server`) or a remote one (`remoteVerifier` from `@keyward/middleware`). Synchronous answers are allowed
 * and keep the hot path free of promises.
 */
export interface KeyVerifier {
  verify(request: VerifyRequest): VerifyOutcome | Promise<VerifyOutcome>;
}

/** Raised when keyward cannot answer (unreachable, or its limiter fails closed); protected routes answer 503. */
export class VerifierUnavailableError extends Error {
  override name = 'VerifierUnavailableError';
}

/** The JSON body of `POST /v1/keys/verify`'s 200 answer. */
export type VerifyWire =
  | {
      valid: true;
      key_id: string;
      name: string;
      environment: string;
      scope: Scope;
      organization_id?: string;
      metadata?: Record<string, unknown>;
      tier?: string;
      owner_id?: string;
      expires_at?: string | null;
      agent?: string | null;
      parent_id?: string | null;
      ratelimit: RateLimitInfo | null;
      budget?: BudgetInfo | null;
      cache?: { limited: boolean; until: string | null; ancestor_ids: string[] };
    }
  | {
      valid: false;
      code: VerifyCode;
      message: string;
      reason?: VerifyReason;
      required_scope?: Scope;
      key_scope?: Scope;
      key_id?: string;
      environment?: string;
      retry_after?: number;
      ratelimit?: RateLimitInfo | null;
      budget?: BudgetInfo | null;
    };

/** An outcome as the verify endpoint writes it. */
export function toWire(o: VerifyOutcome): VerifyWire {
  if (o.valid) {
    const k = o.key;
    return {
      valid: true,
      key_id: k.id,
      name: k.name,
      environment: k.environment,
      scope: k.scope,
      ...(k.organizationId !== undefined ? { organization_id: k.organizationId } : {}),
      ...(k.metadata !== undefined ? { metadata: k.metadata } : {}),
      ...(k.tier !== undefined ? { tier: k.tier } : {}),
      ...(k.ownerId !== undefined ? { owner_id: k.ownerId } : {}),
      ...(k.expiresAt !== undefined ? { expires_at: k.expiresAt === null ? null : new Date(k.expiresAt).toISOString() } : {}),
      ...(k.agent !== undefined ? { agent: k.agent } : {}),
      ...(k.parentId !== undefined ? { parent_id: k.parentId } : {}),
      ratelimit: o.ratelimit,
      ...(o.budget !== undefined ? { budget: o.budget } : {}),
      ...(o.cache !== undefined
        ? {
            cache: {
              limited: o.cache.limited,
              until: o.cache.until === null ? null : new Date(o.cache.until).toISOString(),
              ancestor_ids: o.cache.ancestorIds,
            },
          }
        : {}),
    };
  }
  return {
    valid: false,
    code: o.code,
    message: o.message,
    ...(o.reason !== undefined ? { reason: o.reason } : {}),
    ...(o.requiredScope !== undefined ? { required_scope: o.requiredScope } : {}),
    ...(o.keyScope !== undefined ? { key_scope: o.keyScope } : {}),
    ...(o.keyId !== undefined ? { key_id: o.keyId } : {}),
    ...(o.environment !== undefined ? { environment: o.environment } : {}),
    ...(o.retryAfterSeconds !== undefined ? { retry_after: o.retryAfterSeconds } : {}),
    ...(o.ratelimit !== undefined ? { ratelimit: o.ratelimit } : {}),
    ...(o.budget !== undefined ? { budget: o.budget } : {}),
  };
}

/** Thrown by `fromWire` for an answer that does not follow the contract. */
export class VerifyWireError extends Error {
  override name = 'VerifyWireError';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

function rateLimitOf(v: unknown): RateLimitInfo | null {
  if (v === null || v === undefined) return null;
  if (isObject(v) && isCount(v.limit) && isCount(v.remaining) && isCount(v.reset))
    return { limit: v.limit, remaining: v.remaining, reset: v.reset };
  throw new VerifyWireError('ratelimit must be {limit, remaining, reset}');
}

function budgetOf(v: unknown): BudgetInfo | null {
  if (v === null || v === undefined) return null;
  if (isObject(v) && isCount(v.limit) && isCount(v.remaining)) return { limit: v.limit, remaining: v.remaining };
  throw new VerifyWireError('budget must be {limit, remaining}');
}

function cacheHintOf(v: unknown): CacheHint {
  if (
    isObject(v) &&
    typeof v.limited === 'boolean' &&
    Array.isArray(v.ancestor_ids) &&
    v.ancestor_ids.every((a) => typeof a === 'string')
  ) {
    const ancestorIds = v.ancestor_ids as string[];
    if (v.until === null) return { limited: v.limited, until: null, ancestorIds };
    if (typeof v.until === 'string' && !Number.isNaN(Date.parse(v.until)))
      return { limited: v.limited, until: Date.parse(v.until), ancestorIds };
  }
  throw new VerifyWireError('cache must be {limited: boolean, until: ISO date-time or null, ancestor_ids: string[]}');
}

const textOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function text(b: Record<string, unknown>, field: string): string {
  const v = b[field];
  if (typeof v !== 'string') throw new VerifyWireError(`${field} must be a string`);
  return v;
}

/** A verify answer read back, checked field by field: a body that breaks the contract is a `VerifyWireError`. */
export function fromWire(body: unknown): VerifyOutcome {
  if (!isObject(body)) throw new VerifyWireError('the answer is not a JSON object');
  if (body.valid === true) {
    if (!isScope(body.scope)) throw new VerifyWireError('scope must be one of read, agentic, write, admin');
    if (body.metadata !== undefined && !isObject(body.metadata)) throw new VerifyWireError('metadata must be an object');
    const expires = body.expires_at;
    if (expires !== undefined && expires !== null && (typeof expires !== 'string' || Number.isNaN(Date.parse(expires))))
      throw new VerifyWireError('expires_at must be an ISO date-time or null');
    return {
      valid: true,
      key: {
        id: text(body, 'key_id'),
        name: text(body, 'name'),
        environment: text(body, 'environment'),
        scope: body.scope,
        ...(body.organization_id !== undefined ? { organizationId: text(body, 'organization_id') } : {}),
        ...(body.metadata !== undefined ? { metadata: body.metadata as Record<string, unknown> } : {}),
        ...(typeof body.tier === 'string' ? { tier: body.tier } : {}),
        ...(typeof body.owner_id === 'string' ? { ownerId: body.owner_id } : {}),
        ...(expires !== undefined ? { expiresAt: expires === null ? null : Date.parse(expires) } : {}),
        ...(body.agent !== undefined ? { agent: textOrNull(body.agent) } : {}),
        ...(body.parent_id !== undefined ? { parentId: textOrNull(body.parent_id) } : {}),
      },
      ratelimit: rateLimitOf(body.ratelimit),
      ...(body.budget !== undefined ? { budget: budgetOf(body.budget) } : {}),
      ...(body.cache !== undefined ? { cache: cacheHintOf(body.cache) } : {}),
    };
  }
  if (body.valid !== false) throw new VerifyWireError('valid must be true or false');
  if (!VERIFY_CODES.includes(body.code as VerifyCode)) throw new VerifyWireError(`code must be one of ${VERIFY_CODES.join(', ')}`);
  if (body.retry_after !== undefined && !isCount(body.retry_after)) throw new VerifyWireError('retry_after must be a number of seconds');
  return {
    valid: false,
    code: body.code as VerifyCode,
    message: text(body, 'message'),
    // A reason this version does not know (a newer server) is left out rather than refused.
    ...(VERIFY_REASONS.includes(body.reason as VerifyReason) ? { reason: body.reason as VerifyReason } : {}),
    ...(isScope(body.required_scope) ? { requiredScope: body.required_scope } : {}),
    ...(isScope(body.key_scope) ? { keyScope: body.key_scope } : {}),
    ...(typeof body.key_id === 'string' ? { keyId: body.key_id } : {}),
    ...(typeof body.environment === 'string' ? { environment: body.environment } : {}),
    ...(body.retry_after !== undefined ? { retryAfterSeconds: body.retry_after as number } : {}),
    ratelimit: rateLimitOf(body.ratelimit),
    ...(body.budget !== undefined ? { budget: budgetOf(body.budget) } : {}),
  };
}
