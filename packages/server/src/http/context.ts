import { KeywardError } from '@keyward/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ZodType } from 'zod';
import type { AccountService } from '../accounts/account-service.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Actor } from '../auth/authorization.js';
import type { ChangeFeed } from '../cache/change-feed.js';
import type { KeywardConfig } from '../config/config.js';
import type { Environments } from '../config/environments.js';
import type { OneTimeForms } from '../forms/one-time-forms.js';
import type { Clock } from '../ids.js';
import type { Importer } from '../import/importer.js';
import type { KeyService } from '../keys/key-service.js';
import type { LeakService } from '../leaks/leak-service.js';
import type { MemberService } from '../org/member-service.js';
import type { ScopeRequestService } from '../scope-requests/scope-request-service.js';
import type { ClientRegistry } from '../signin/clients.js';
import type { GrantService } from '../signin/grant-service.js';
import type { UsageService } from '../usage/usage-service.js';
import type { Leases } from '../verify/leases.js';
import type { Verifier } from '../verify/verifier.js';
import type { WebhookService } from '../webhooks/webhook-service.js';
import { messageOf, type Surface } from './errors.js';
import type { Metrics } from './metrics.js';
import type { RequestAuth } from './request-auth.js';

/** Everything a route needs, built once by the composition root. */
export interface AppContext {
  config: KeywardConfig;
  /** Served and retired environments: what every route and page asks about environments. */
  environments: Environments;
  clock: Clock;
  accounts: AccountService;
  keys: KeyService;
  members: MemberService;
  usage: UsageService;
  audit: AuditLog;
  forms: OneTimeForms;
  verifier: Verifier;
  /** Every change that alters what a key may do, numbered, for remote verifiers (`GET /v1/verifier/events`). */
  changes: ChangeFeed;
  /** Allowances of limited keys lent to remote verifiers (`POST /v1/verifier/leases`). */
  leases: Leases;
  auth: RequestAuth;
  metrics: Metrics;
  signIn: GrantService;
  clients: ClientRegistry;
  importer: Importer;
  webhooks: WebhookService;
  leaks: LeakService;
  scopeRequests: ScopeRequestService;
}

/**
 * How a JSON route proves who calls it. `management`: a session cookie or a key as Bearer, resolved to an `Actor`
 * by the API plugin's hook before the body is validated; `session`: a cookie; `key`: a key as Bearer; `none`: open.
 */
export type RouteAuth = 'none' | 'session' | 'management' | 'key';

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
    /** A cookie-authenticated call that changes state: JSON only, and from our own origin. */
    csrf?: boolean;
    /** Fields the route checks itself and never stores (a `next` redirect target): the text rule leaves them alone. */
    ownText?: string[];
    /** Which part of keyward the route is, set by `answerErrorsAs` for every route of its plugin. */
    surface?: Surface;
  }
  interface FastifyRequest {
    actor: Actor | null;
    /** The request presented an API key (as Bearer) for keyward to check: its 401/403 keep Nuvion's words. */
    withKey: boolean;
  }
}

/** A Fastify instance whose route schemas are zod schemas: typed handlers, validation, and /openapi.json from one source. */
export type ZodApp = FastifyInstance<
  import('fastify').RawServerDefault,
  import('fastify').RawRequestDefaultExpression,
  import('fastify').RawReplyDefaultExpression,
  import('fastify').FastifyBaseLogger,
  ZodTypeProvider
>;

const SECURITY: Record<RouteAuth, Array<Record<string, string[]>>> = {
  none: [],
  session: [{ cookie: [] }],
  management: [{ cookie: [] }, { bearer: [] }],
  key: [{ bearer: [] }],
};

/** The OpenAPI description of a route: its tag, summary and how it authenticates. */
export function about(tag: string, summary: string, auth: RouteAuth) {
  return { tags: [tag], summary, security: SECURITY[auth] };
}

/** The actor the API plugin's hook resolved for a `management` route. */
export function actorOf(request: FastifyRequest): Actor {
  if (!request.actor) throw new Error(`${request.routeOptions.url} is not a management route`);
  return request.actor;
}

/** The API plugin's auth hook: runs before validation, so an anonymous or cross-site call is refused before its body is judged. */
export function authHook(ctx: AppContext) {
  return async (request: FastifyRequest, reply: import('fastify').FastifyReply) => {
    const { auth, csrf } = request.routeOptions.config;
    if (csrf) ctx.auth.checkCsrf(request);
    if (auth === 'management') request.actor = await ctx.auth.actor(request, reply);
  };
}

/**
 * Validates a request part with its zod schema; a failure is a 400 in whichever shape the plugin answers, naming
 * the field. A missing body is an empty object, so `POST …/rotate` with no body takes the defaults.
 */
export function zodValidator({ schema, httpPart }: { schema: ZodType; httpPart?: string }) {
  return (data: unknown) => {
    const result = schema.safeParse(httpPart === 'body' ? (data ?? {}) : data);
    if (result.success) return { value: result.data };
    return { error: new KeywardError('invalid_request', messageOf(result.error.issues, httpPart === 'querystring' ? 'query' : 'body')) };
  };
}
