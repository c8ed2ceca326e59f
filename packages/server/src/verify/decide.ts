import { keyState, type Scope, scopeAllows, type VerifyRefusal } from '@keyward/core';
import type { Environments } from '../config/environments.js';
import type { CachedKey } from './key-cache.js';

export type PolicyDecision = { ok: true; scope: Scope } | ({ ok: false } & Omit<VerifyRefusal, 'valid'>);

/** What a request asks of a key beyond the key itself. */
export interface PolicyRequest {
  environment?: string | undefined;
  required?: Scope | undefined;
  ip?: string | undefined;
  resource?: string | undefined;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Whether a known key may make this request, before limits: a pure function of the looked-up key, the request and
 * the time. Whether the key works at all is `keyState`'s answer (worked out at look-up, again only once its deadline
 * has passed); then the request's environment, resource, address and scope. Order matters: a revoked key is
 * reported as revoked whatever else is wrong with the request.
 */
export function decidePolicy(entry: CachedKey, request: PolicyRequest, now: number, environments: Environments): PolicyDecision {
  const key = entry.key;
  const state = now < entry.state.deadline ? entry.state : keyState(key, now, environments);
  switch (state.status) {
    case 'revoked':
      return { ok: false, code: 'REVOKED', reason: 'revoked', message: 'This API key has been revoked.' };
    case 'creator_removed':
      return {
        ok: false,
        code: 'REVOKED',
        reason: 'creator_removed',
        message: 'The person who created this API key is no longer a member of the organization, so the key no longer works.',
      };
    case 'expired':
      return { ok: false, code: 'EXPIRED', reason: 'expired', message: `This API key expired at ${iso(key.expiresAt ?? now)}.` };
    case 'idle_expired':
      return {
        ok: false,
        code: 'EXPIRED',
        reason: 'idle_expired',
        message: `This API key went unused for its idle timeout (${key.idleTimeoutSeconds} s) and expired. Ask for a new key.`,
      };
    case 'retired':
      return {
        ok: false,
        code: 'WRONG_ENVIRONMENT',
        reason: 'retired_environment',
        message: `This API key belongs to the ${key.environment} environment (${key.prefix}…), which this server no longer serves: the environment was retired. Use a key of ${environments.names()}.`,
      };
  }
  const { environment, required, ip, resource } = request;
  if (environment && environment !== key.environment) {
    const home = environments.get(key.environment);
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
  if (entry.allowlist && !(ip && entry.allowlist.allows(ip))) {
    return {
      ok: false,
      code: 'IP_NOT_ALLOWED',
      reason: 'ip_not_allowed',
      message: `Requests with this API key are not allowed from ${ip ?? 'an unknown address'}.`,
    };
  }
  const scope = state.scope as Scope;
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
