import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodType } from 'zod';
import type { AuditLog } from '../audit/audit-log.js';
import type { AccountService } from '../auth/account-service.js';
import type { KeywardConfig } from '../config/config.js';
import type { OneTimeForms } from '../forms/one-time-forms.js';
import type { Clock } from '../ids.js';
import type { KeyService } from '../keys/key-service.js';
import type { Verifier } from '../keys/verifier.js';
import type { MemberService } from '../org/member-service.js';
import type { GrantService } from '../signin/grant-service.js';
import type { UsageService } from '../usage/usage-service.js';
import type { Metrics } from './metrics.js';
import type { RequestAuth } from './request-auth.js';

/** Everything a route needs, built once by the composition root. */
export interface AppContext {
  config: KeywardConfig;
  clock: Clock;
  accounts: AccountService;
  keys: KeyService;
  members: MemberService;
  usage: UsageService;
  audit: AuditLog;
  forms: OneTimeForms;
  verifier: Verifier;
  auth: RequestAuth;
  metrics: Metrics;
  signIn: GrantService;
}

export interface RouteDoc {
  method: string;
  path: string;
  summary: string;
  auth: 'none' | 'session' | 'management' | 'key';
  body?: ZodType;
  tag: string;
}

/** Registers a route and records it for /openapi.json, so the document cannot drift from what is served. */
export function route(
  app: FastifyInstance,
  docs: RouteDoc[],
  doc: RouteDoc,
  handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
): void {
  docs.push(doc);
  app.route({ method: doc.method as 'GET', url: doc.path, handler });
}
