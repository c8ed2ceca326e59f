import { isIP } from 'node:net';
import { DEFAULT_MESSAGES, ERROR_STATUS, type ErrorCode, type ErrorDetails, refusalWords } from '../errors/codes.js';
import { VERIFY_CODE_ERROR, type VerifyCode, type VerifyReason } from '../errors/verify-codes.js';
import { type IpAllowlist, normalizeIp } from '../policy/ip-allowlist.js';
import type { Scope } from '../policy/scopes.js';

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
 * A failed verification as the error a protected route answers with. Every 401 and 403 keeps Nuvion's message and
 * says the rest in extra fields: `reason`, `required_scope`/`key_scope` for a scope refusal, and `hint` with what
 * happened (revoked, expired, which environment the key belongs to, the refused address). Unknown keys and
 * insufficient scope get no hint: their reason and scopes say it all, and an unknown key is told nothing more.
 */
export function verifyFailure(
  code: VerifyCode,
  message: string,
  extra: {
    reason?: VerifyReason | undefined;
    requiredScope?: Scope | undefined;
    keyScope?: Scope | undefined;
    retryAfterSeconds?: number | undefined;
    ratelimit?: { limit: number; remaining: number; reset: number } | null | undefined;
    budget?: { remaining: number } | null | undefined;
  } = {},
): HttpFailure {
  const error = VERIFY_CODE_ERROR[code];
  const headers: Record<string, string> = {};
  if (ERROR_STATUS[error] === 401) headers['www-authenticate'] = 'Bearer realm="keyward"';
  if (extra.retryAfterSeconds !== undefined) headers['retry-after'] = String(extra.retryAfterSeconds);
  if (extra.ratelimit) Object.assign(headers, rateLimitHeaders(extra.ratelimit));
  Object.assign(headers, budgetHeaders(extra.budget));
  const generic = code === 'NOT_FOUND' || code === 'INSUFFICIENT_SCOPE';
  const words = refusalWords(error, generic ? DEFAULT_MESSAGES[error] : message);
  const details: ErrorDetails = {};
  if (extra.reason) details.reason = extra.reason;
  if (extra.requiredScope) details.required_scope = extra.requiredScope;
  if (extra.keyScope) details.key_scope = extra.keyScope;
  if (words.hint !== undefined) details.hint = words.hint;
  return { status: ERROR_STATUS[error], code: error, message: words.message, headers, details };
}

/** `Budget-Remaining`: the credits a key (and its tree) has left after this request. */
export function budgetHeaders(b: { remaining: number } | null | undefined): Record<string, string> {
  return b ? { 'budget-remaining': String(b.remaining) } : {};
}

export function rateLimitHeaders(r: { limit: number; remaining: number; reset: number }): Record<string, string> {
  return { 'ratelimit-limit': String(r.limit), 'ratelimit-remaining': String(r.remaining), 'ratelimit-reset': String(r.reset) };
}
