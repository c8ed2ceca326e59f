import { type AddressAllowlist, effectiveScope, type Scope, scopeAllows, type VerifyCode, type VerifyReason } from '@keyward/core';
import type { EnvironmentConfig } from '../config/config.js';
import type { KeyForVerify } from '../storage/store.js';

export type PolicyDecision =
  | { ok: true; scope: Scope }
  | { ok: false; code: VerifyCode; reason: VerifyReason; message: string; requiredScope?: Scope; keyScope?: Scope };

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Whether a known key may make this request, before limits: a pure function of the stored key, the request and
 * the time. Order matters: a revoked key is reported as revoked whatever else is wrong with the request.
 */
export function decidePolicy(
  key: KeyForVerify,
  allowlist: AddressAllowlist | null,
  environment: string | undefined,
  required: Scope | undefined,
  ip: string | undefined,
  now: number,
  environments: readonly EnvironmentConfig[],
  resource?: string,
): PolicyDecision {
  if (key.revokedAt !== null && key.revokedAt <= now) {
    return { ok: false, code: 'REVOKED', reason: 'revoked', message: 'This API key has been revoked.' };
  }
  if (key.creatorRole === null) {
    return {
      ok: false,
      code: 'REVOKED',
      reason: 'creator_removed',
      message: 'The person who created this API key is no longer a member of the organization, so the key no longer works.',
    };
  }
  if (key.expiresAt !== null && key.expiresAt <= now) {
    return { ok: false, code: 'EXPIRED', reason: 'expired', message: `This API key expired at ${iso(key.expiresAt)}.` };
  }
  if (!environments.some((e) => e.name === key.environment)) {
    return {
      ok: false,
      code: 'WRONG_ENVIRONMENT',
      reason: 'retired_environment',
      message: `This API key belongs to the ${key.environment} environment (${key.prefix}…), which this server no longer serves: the environment was retired. Use a key of ${environments.map((e) => e.name).join(' or ')}.`,
    };
  }
  if (environment && environment !== key.environment) {
    const home = environments.find((e) => e.name === key.environment);
    const where = home?.baseUrl ? ` Use it against ${home.baseUrl}.` : '';
    return {
      ok: false,
      code: 'WRONG_ENVIRONMENT',
      reason: 'wrong_environment',
      message: `This is a ${key.environment} key (${key.prefix}…); this API serves the ${environment} environment.${where}`,
    };
  }
  if (resource !== undefined && key.resource !== null && !sameResource(key.resource, resource)) {
    return {
      ok: false,
      code: 'WRONG_RESOURCE',
      reason: 'wrong_resource',
      message: `This API key is bound to ${key.resource}; it cannot be used for ${resource}.`,
    };
  }
  if (allowlist && !(ip && allowlist.allows(ip))) {
    return {
      ok: false,
      code: 'IP_NOT_ALLOWED',
      reason: 'ip_not_allowed',
      message: `Requests with this API key are not allowed from ${ip ?? 'an unknown address'}.`,
    };
  }
  const scope = effectiveScope(key.scope, key.creatorRole);
  if (required && !scopeAllows(scope, required)) {
    const capped = scope !== key.scope ? ` (the key asks for ${key.scope}, capped by its creator's role)` : '';
    return {
      ok: false,
      code: 'INSUFFICIENT_SCOPE',
      reason: 'insufficient_scope',
      message: `This API key's scope is ${scope}${capped}; this action needs ${required}.`,
      requiredScope: required,
      keyScope: scope,
    };
  }
  return { ok: true, scope };
}

/**
 * Whether two resource identifiers (RFC 8707: an API's absolute URL) name the same API: scheme and host compared
 * case-insensitively (as URL parsing does), default ports dropped, a trailing slash ignored; no query or fragment.
 */
export function sameResource(a: string, b: string): boolean {
  const norm = (s: string) => {
    try {
      const u = new URL(s);
      return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
    } catch {
      return s;
    }
  };
  return norm(a) === norm(b);
}
