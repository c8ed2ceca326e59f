import { isIP } from 'node:net';
import { DEFAULT_MESSAGES, ERROR_STATUS, type ErrorCode, type ErrorDetails, refusalWords } from '../errors/codes.js';
import { VERIFY_CODE_ERROR } from '../errors/verify-codes.js';
import { type IpAllowlist, normalizeIp } from '../policy/ip-allowlist.js';
import type { VerifyRefusal } from '../verify/contract.js';

/** `Bearer <key>` from an Authorization header, or null. Other schemes count as no key. */
export function parseBearer(header: string | undefined | null): string | null {
  if (typeof header !== 'string') return null;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1] ?? null;
}

/**
 * The client's address. `X-Forwarded-For` counts only when the connection comes from a trusted proxy; then the
 * right-most address that is not itself a trusted proxy is the client. With no trusted proxies, the socket's.
 */
export function clientAddress(peer: string, forwardedFor: string | string[] | undefined, proxies: IpAllowlist | null): string {
  const socket = normalizeIp(peer);
  if (!proxies || !proxies.allows(socket) || !forwardedFor) return socket;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',');
  let nearest = socket;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeIp((hops[i] ?? '').trim());
    // Anything but an address (text a client wrote into the header) ends the walk: the last proxy is the client.
    if (isIP(hop) === 0) return nearest;
    if (!proxies.allows(hop)) return hop;
    nearest = hop;
  }
  return nearest;
}

export interface HttpFailure {
  status: number;
  code: ErrorCode;
  message: string;
  headers: Record<string, string>;
  /** Extra fields of the error envelope: `reason`, and `required_scope`/`key_scope` for a scope refusal. */
  details: ErrorDetails;
}

/** The refusal of a request that carries no key (or no Bearer one): Nuvion's 401, `reason: missing`. */
export const MISSING_KEY: HttpFailure = {
  status: 401,
  code: 'unauthorized',
  message: DEFAULT_MESSAGES.unauthorized,
  headers: { 'www-authenticate': 'Bearer realm="keyward"' },
  details: { reason: 'missing' },
};

/**
 * A refused key as the error a protected route answers with: the one mapping of refusals to HTTP, for the server's
 * own routes, the middleware and the in-process verifier alike. Every 401 and 403 keeps Nuvion's message and says
 * the rest in extra fields: `reason`, `required_scope`/`key_scope` for a scope refusal, and `hint` with what
 * happened (revoked, expired, which environment the key belongs to, the refused address). Unknown keys and
 * insufficient scope get no hint: their reason and scopes say it all, and an unknown key is told nothing more.
 */
export function refusalFailure(refusal: Omit<VerifyRefusal, 'valid'>): HttpFailure {
  const { code } = refusal;
  const error = VERIFY_CODE_ERROR[code];
  const headers: Record<string, string> = {};
  if (ERROR_STATUS[error] === 401) headers['www-authenticate'] = 'Bearer realm="keyward"';
  if (refusal.retryAfterSeconds !== undefined) headers['retry-after'] = String(refusal.retryAfterSeconds);
  if (refusal.ratelimit) Object.assign(headers, rateLimitHeaders(refusal.ratelimit));
  Object.assign(headers, budgetHeaders(refusal.budget));
  const generic = code === 'NOT_FOUND' || code === 'INSUFFICIENT_SCOPE';
  const words = refusalWords(error, generic ? DEFAULT_MESSAGES[error] : refusal.message);
  const details: ErrorDetails = {};
  if (refusal.reason) details.reason = refusal.reason;
  if (refusal.requiredScope) details.required_scope = refusal.requiredScope;
  if (refusal.keyScope) details.key_scope = refusal.keyScope;
  if (words.hint !== undefined) details.hint = words.hint;
  return { status: ERROR_STATUS[error], code: error, message: words.message, headers, details };
}

/**
 * When keys cannot be checked at all (keyward unreachable, its limiter failing closed, storage away for a key not
 * in the cache): 503 with a Retry-After, which clients and load balancers understand.
 */
export function unavailableFailure(message = 'Keys cannot be verified right now; retry shortly.', retryAfterSeconds = 1): HttpFailure {
  return { status: 503, code: 'service_unavailable', message, headers: { 'retry-after': String(retryAfterSeconds) }, details: {} };
}

/** `Budget-Remaining`: the credits a key (and its tree) has left after this request. */
export function budgetHeaders(b: { remaining: number } | null | undefined): Record<string, string> {
  return b ? { 'budget-remaining': String(b.remaining) } : {};
}

export function rateLimitHeaders(r: { limit: number; remaining: number; reset: number }): Record<string, string> {
  return { 'ratelimit-limit': String(r.limit), 'ratelimit-remaining': String(r.remaining), 'ratelimit-reset': String(r.reset) };
}
