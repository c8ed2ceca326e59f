import {
  budgetHeaders,
  clientAddress,
  type HttpFailure,
  IpAllowlist,
  MISSING_KEY,
  parseBearer,
  rateLimitHeaders,
  refusalFailure,
  type Scope,
  scopeForMethod,
  unavailableFailure,
} from '@keyward/core';
import { VerifierUnavailableError } from './remote-verifier.js';
import type { KeyVerifier, VerifiedKey, VerifyOutcome } from './verifier.js';

export type Enforcement = 'required' | 'optional' | 'off';

/** How an API is protected. One object, shared by the Fastify, Express and Hono adapters. */
export interface ProtectOptions {
  verifier: KeyVerifier;
  /** The environment this API serves; keys of another one get 401 naming theirs. Omit to accept any. */
  environment?: string;
  /**
   * `required` (default): no key, no entry. `optional`: the transition period — a request without a key passes
   * and is counted as anonymous, a request with a bad key still gets 401. `off`: keys are not looked at.
   */
  enforcement?: Enforcement;
  /** Proxies (CIDRs) whose `X-Forwarded-For` is believed. None by default: the socket address is the client. */
  trustedProxies?: string[];
  /** Called for each request let through without a key because enforcement is `optional`. */
  onAnonymous?: (facts: RequestFacts) => void;
  /** Credits a request spends from the key's budget unless its route says otherwise (default 1). */
  cost?: number;
  /** This API's identifier (its base URL): keys bound to another resource are refused. */
  resource?: string;
  /**
   * Makes the API an OAuth protected resource (RFC 9728), as MCP servers are: its metadata is served at
   * `/.well-known/oauth-protected-resource` (and the same with the resource's path appended), 401 answers carry
   * `WWW-Authenticate: Bearer resource_metadata="…"` and 403 answers `error="insufficient_scope", scope="…"`, and
   * keys bound to another resource are refused (`resource` defaults to this one).
   */
  protectedResource?: ProtectedResourceOptions;
}

export interface ProtectedResourceOptions {
  /** The resource identifier: the API's URL as clients reach it, e.g. `https://mcp.example.com/mcp`. */
  resource: string;
  /** The keyward server(s) that issue its keys, e.g. `['https://keys.example.com']`. */
  authorizationServers: string[];
  /** The scopes clients may ask for (default read, agentic, write: what agent sign-in grants). */
  scopesSupported?: Scope[];
  resourceName?: string;
  resourceDocumentation?: string;
}

/** RFC 9728's document, as served. */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  scopes_supported: string[];
  bearer_methods_supported: ['header'];
  resource_name?: string;
  resource_documentation?: string;
}

/**
 * What the well-known routes of a protected resource serve: the metadata, at both paths RFC 9728 allows
 * (`/.well-known/oauth-protected-resource` and the same followed by the resource's path), and the URL a 401 names.
 */
export function protectedResourceMetadata(o: ProtectedResourceOptions) {
  const url = new URL(o.resource);
  const suffix = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '');
  const metadataUrl = `${url.origin}/.well-known/oauth-protected-resource${suffix}`;
  const document: ProtectedResourceMetadata = {
    resource: o.resource,
    authorization_servers: o.authorizationServers,
    scopes_supported: o.scopesSupported ?? ['read', 'agentic', 'write'],
    bearer_methods_supported: ['header'],
    ...(o.resourceName ? { resource_name: o.resourceName } : {}),
    ...(o.resourceDocumentation ? { resource_documentation: o.resourceDocumentation } : {}),
  };
  const paths = [...new Set(['/.well-known/oauth-protected-resource', `/.well-known/oauth-protected-resource${suffix}`])];
  return { document, metadataUrl, paths };
}

/**
 * What a route declares: the scope it needs (default: by method), that it is open, and the credits a request
 * spends from the key's budget (and its ancestors'): a number, or worked out from the request.
 */
export interface RouteRule {
  scope?: Scope;
  open?: boolean;
  cost?: number | ((facts: RequestFacts) => number);
}

export interface RequestFacts {
  method: string;
  path: string;
  authorization: string | undefined;
  remoteAddress: string;
  forwardedFor: string | string[] | undefined;
}

export type Decision =
  | { ok: true; key: VerifiedKey | null; headers: Record<string, string> }
  | {
      ok: false;
      status: number;
      headers: Record<string, string>;
      /** The error envelope: `code` and `message`, and `reason` (plus `required_scope`/`key_scope`) saying why. */
      body: { error: { code: string; message: string; [detail: string]: string } };
    };

const ANONYMOUS: Decision = { ok: true, key: null, headers: {} };

/** Counts of what the guard let through or refused, for an API's own metrics. */
export interface GuardStats {
  /** Requests with a key that passed. */
  allowed: number;
  /** Requests without a key let through only because enforcement is `optional`: who still has to adopt keys. */
  anonymous: number;
  /** Requests without a key on open routes. */
  open: number;
  refused: number;
}

/**
 * The decision every adapter applies: which key, whether it may, and what to answer if not. Returns synchronously
 * when the verifier does.
 *
 * @example
 * ```ts
 * const guard = createGuard({ verifier, environment: 'live' });
 * const decision = await guard.decide({ method: 'POST', path: '/register', authorization, remoteAddress, forwardedFor }, {});
 * ```
 */
export function createGuard(options: ProtectOptions) {
  const enforcement = options.enforcement ?? 'required';
  const proxies = options.trustedProxies?.length ? new IpAllowlist(options.trustedProxies) : null;
  const stats: GuardStats = { allowed: 0, anonymous: 0, open: 0, refused: 0 };
  const metadata = options.protectedResource ? protectedResourceMetadata(options.protectedResource) : null;
  const resource = options.resource ?? options.protectedResource?.resource;

  /** RFC 6750 / RFC 9728 challenges of a protected resource: where its metadata is, and what went wrong. */
  const challenge = (f: HttpFailure, presented: boolean): Record<string, string> => {
    if (!metadata || (f.status !== 401 && f.status !== 403)) return f.headers;
    const at = `resource_metadata="${metadata.metadataUrl}"`;
    if (f.status === 403 && f.details.required_scope) {
      return { ...f.headers, 'www-authenticate': `Bearer error="insufficient_scope", scope="${f.details.required_scope}", ${at}` };
    }
    if (f.status === 403) return f.headers;
    return { ...f.headers, 'www-authenticate': presented ? `Bearer error="invalid_token", ${at}` : `Bearer ${at}` };
  };

  const refuse = (f: HttpFailure, presented = true): Decision => {
    stats.refused++;
    return {
      ok: false,
      status: f.status,
      headers: challenge(f, presented),
      body: { error: { ...f.details, code: f.code, message: f.message } },
    };
  };

  const conclude = (outcome: VerifyOutcome): Decision => {
    if (outcome.valid) {
      stats.allowed++;
      const headers = outcome.ratelimit ? rateLimitHeaders(outcome.ratelimit) : {};
      return { ok: true, key: outcome.key, headers: outcome.budget ? { ...headers, ...budgetHeaders(outcome.budget) } : headers };
    }
    return refuse(refusalFailure(outcome));
  };

  const unavailable = (error: unknown): Decision => {
    if (!(error instanceof VerifierUnavailableError)) throw error;
    return refuse(unavailableFailure());
  };

  function decide(facts: RequestFacts, rule: RouteRule = {}): Decision | Promise<Decision> {
    if (enforcement === 'off') return ANONYMOUS;
    const header = facts.authorization;
    const key = parseBearer(header);
    if (key === null && (header === undefined || header === '')) {
      if (rule.open) {
        stats.open++;
        return ANONYMOUS;
      }
      if (enforcement === 'optional') {
        stats.anonymous++;
        options.onAnonymous?.(facts);
        return ANONYMOUS;
      }
      return refuse(MISSING_KEY, false);
    }
    // A malformed Authorization header is a bad key, not a missing one: refused even where keys are optional.
    if (key === null) return refuse({ ...MISSING_KEY, details: { reason: 'malformed' } });
    let outcome: VerifyOutcome | Promise<VerifyOutcome>;
    const cost = typeof rule.cost === 'function' ? rule.cost(facts) : (rule.cost ?? options.cost);
    if (cost !== undefined && !(Number.isInteger(cost) && cost >= 0)) throw new TypeError(`cost must be a whole number >= 0, got ${cost}`);
    try {
      outcome = options.verifier.verify({
        key,
        ...(options.environment ? { environment: options.environment } : {}),
        ...(rule.open ? {} : { scope: rule.scope ?? scopeForMethod(facts.method) }),
        method: facts.method,
        path: facts.path,
        ip: clientAddress(facts.remoteAddress, facts.forwardedFor, proxies),
        ...(cost !== undefined ? { cost } : {}),
        ...(resource ? { resource } : {}),
      });
    } catch (error) {
      return unavailable(error);
    }
    return outcome instanceof Promise ? outcome.then(conclude, unavailable) : conclude(outcome);
  }

  return { decide, stats, enforcement, metadata };
}

export type Guard = ReturnType<typeof createGuard>;
