import {
  type BudgetInfo,
  budgetHeaders,
  clientAddress,
  IpAllowlist,
  KeywardError,
  MISSING_KEY,
  parseBearer,
  type RateLimitInfo,
  rateLimitHeaders,
  refusalFailure,
  type Scope,
  type VerifyRefusal,
} from '@keyward/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type AccountService, actorOfSession, type SessionContext } from '../accounts/account-service.js';
import { type Actor, roleOfScope } from '../auth/authorization.js';
import { sha256 } from '../auth/tokens.js';
import type { KeywardConfig } from '../config/config.js';
import type { Verifier } from '../verify/verifier.js';

export const SESSION_COOKIE = 'access_token';
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function bearerToken(request: FastifyRequest): string | null {
  return parseBearer(request.headers.authorization);
}

export function cookieValue(request: FastifyRequest, name: string): string | null {
  const header = request.headers.cookie;
  if (typeof header !== 'string') return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || null;
  }
  return null;
}

/** RateLimit-* and Budget-Remaining: what a key has left after this request. */
export function setLimitHeaders(reply: FastifyReply, result: { ratelimit?: RateLimitInfo | null; budget?: BudgetInfo | null }): void {
  if (result.ratelimit) reply.headers(rateLimitHeaders(result.ratelimit));
  if (result.budget) reply.headers(budgetHeaders(result.budget));
}

/** A refused key as the HTTP error a protected route answers with: core's one mapping (Nuvion's bodies for 401 and 403). */
export function verifyError(refusal: VerifyRefusal): KeywardError {
  const failure = refusalFailure(refusal);
  return new KeywardError(failure.code, failure.message, failure.headers, failure.details);
}

/** How a request proves who it is: a session cookie, or a key as Bearer. */
export class RequestAuth {
  readonly #proxies: IpAllowlist | null;
  readonly #allowedOrigins: Set<string>;
  readonly #verifiers: Map<string, string>;
  readonly #operators: Map<string, string>;

  constructor(
    private readonly accounts: AccountService,
    private readonly verifier: Verifier,
    config: KeywardConfig,
  ) {
    this.#proxies = config.trustedProxies.length > 0 ? new IpAllowlist(config.trustedProxies) : null;
    this.#allowedOrigins = new Set([new URL(config.publicUrl).origin]);
    this.#verifiers = new Map(config.verifierCredentials.map((c) => [c.sha256, c.name]));
    this.#operators = new Map(config.operatorCredentials.map((c) => [c.sha256, c.name]));
  }

  /** The client's address: the socket's, or `X-Forwarded-For`'s when the connection comes from a trusted proxy. */
  clientIp(request: FastifyRequest): string {
    return clientAddress(request.socket.remoteAddress ?? '', request.headers['x-forwarded-for'], this.#proxies);
  }

  /**
   * The verifier credential a request presents as Bearer, by name: null when it presents none; a 401 when it
   * presents one that is not configured (a misconfigured verifier should hear so, not get a smaller answer).
   */
  verifierOf(request: FastifyRequest): string | null {
    const token = bearerToken(request);
    if (!token) return null;
    const name = this.#verifiers.get(sha256(token));
    if (!name) throw new KeywardError('unauthorized', 'That is not a verifier credential of this server.');
    return name;
  }

  /**
   * The verifier credential a request must present as Bearer (the change stream, usage reports), by name; a 401 when
   * it presents none or one that is not configured.
   */
  requireVerifier(request: FastifyRequest): string {
    const name = this.verifierOf(request);
    if (!name) throw new KeywardError('unauthorized', 'This needs a verifier credential of this server (verifier_credentials) as Bearer.');
    return name;
  }

  /**
   * The operator credential (`operator_credentials`) a request presents as Bearer, by name; a 401 otherwise. No key,
   * session or verifier credential stands in for it: the admin API acts across organizations.
   */
  requireOperator(request: FastifyRequest): string {
    const token = bearerToken(request);
    const name = token ? this.#operators.get(sha256(token)) : undefined;
    if (!name) throw new KeywardError('unauthorized', 'This needs an operator credential of this server (operator_credentials) as Bearer.');
    return name;
  }

  /**
   * An `onRequest` hook for routes that take large bodies from operators only: the credential is checked before a
   * byte of the body is read, and a refused request with a body closes its connection, so the body is never read.
   */
  readonly operatorBeforeBody = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    try {
      this.requireOperator(request);
    } catch (error) {
      const hasBody = request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0;
      if (hasBody) reply.header('connection', 'close');
      throw error;
    }
  };

  /** Verifies the Bearer key of a request; throws the protected-route error when it does not pass. */
  async requireKey(request: FastifyRequest, reply: FastifyReply, scope?: Scope) {
    const raw = bearerToken(request);
    if (!raw) throw new KeywardError('unauthorized', MISSING_KEY.message, MISSING_KEY.headers, MISSING_KEY.details);
    request.withKey = true;
    const result = await this.verifier.verify({
      key: raw,
      ...(scope ? { scope } : {}),
      method: request.method,
      path: request.url.split('?')[0] ?? '/',
      ip: this.clientIp(request),
    });
    if (!result.valid) throw verifyError(result);
    setLimitHeaders(reply, result);
    return result;
  }

  async session(request: FastifyRequest): Promise<SessionContext | null> {
    const token = cookieValue(request, SESSION_COOKIE);
    return token ? this.accounts.session(token) : null;
  }

  /**
   * The actor of a management call: a key as Bearer (acting for its creator, capped at its effective scope; what
   * it may do is `can()`'s answer), or a signed-in person. Cookie calls that change state must be JSON and, when
   * the browser says where they come from, come from us: the CSRF defence.
   */
  async actor(request: FastifyRequest, reply: FastifyReply): Promise<Actor> {
    if (bearerToken(request)) {
      // Any valid key passes here; what it may do is decided by the service (a read key may revoke itself).
      const result = await this.requireKey(request, reply, 'read');
      const key = result.key.record;
      return {
        kind: 'key',
        keyId: key.id,
        userId: key.createdBy,
        orgId: key.orgId,
        role: roleOfScope(result.key.scope),
        memberId: '',
        environment: key.environment,
      };
    }
    const session = await this.session(request);
    if (!session) throw new KeywardError('unauthorized', 'Sign in, or send an admin-scoped API key as Bearer.');
    this.checkCsrf(request);
    return actorOfSession(session);
  }

  /**
   * Whether a request comes from our own pages: an `Origin` of `public_url`, or none at all from a client that is
   * not a cross-site browser request. Never the `Host` header: a request names its own Host.
   */
  fromOwnOrigin(request: FastifyRequest): boolean {
    const origin = request.headers.origin;
    if (origin === undefined) return request.headers['sec-fetch-site'] !== 'cross-site';
    return this.#allowedOrigins.has(origin);
  }

  checkCsrf(request: FastifyRequest): void {
    if (!UNSAFE.has(request.method)) return;
    if (!this.fromOwnOrigin(request)) throw new KeywardError('forbidden', 'Cross-origin requests are not allowed.');
    const type = request.headers['content-type'] ?? '';
    if (request.method !== 'DELETE' && !type.toLowerCase().startsWith('application/json')) {
      throw new KeywardError('unsupported_media_type');
    }
  }
}
