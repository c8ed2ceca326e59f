import { keyNameProblem, parseCidr, ROLES, SCOPES } from '@keyward/core';
import { z } from 'zod';
import type { CreateKeyInput, DeriveKeyInput } from '../keys/key-service.js';
import { DEFAULT_PAGE_SIZE, decodeCursor, MAX_PAGE_SIZE, type PageRequest } from '../pagination.js';

/** A person's name (not a key's): at most 100 UTF-16 units, as the sign-up form's `maxlength` counts them. */
export const PERSON_NAME_MAX = 100;

/** A person's name the sign-up form sent, cut to {@link PERSON_NAME_MAX} units between two characters, never inside one. */
export function fitPersonName(text: string): string {
  const cut = text.trim().slice(0, PERSON_NAME_MAX);
  return (/[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut).trim();
}

/** Request bodies: one schema each, used to validate and to write /openapi.json. Unknown fields are refused. */
export const signupBody = z
  .object({
    email: z.email().max(254),
    password: z.string().min(8).max(256),
    name: z.string().trim().min(1).max(PERSON_NAME_MAX).optional(),
    invite_token: z.string().min(1).max(200).optional(),
  })
  .strict();

export const loginBody = z.object({ email: z.string().max(254), password: z.string().max(256) }).strict();

const isoTime = z
  .string()
  .max(40)
  // A plain date is the start of that day in UTC (JavaScript's reading of `YYYY-MM-DD` too); answers show the instant.
  .refine(
    (s) => /^\d{4}-\d{2}-\d{2}(T|$)/.test(s) && !Number.isNaN(Date.parse(s)),
    'must be a date (2027-01-31, meaning 00:00 UTC) or an ISO 8601 date-time, e.g. 2027-01-31T12:00:00Z',
  );

const keyName = z
  .string()
  .trim()
  .superRefine((s, ctx) => {
    const problem = keyNameProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

const ipAllowlist = z
  .array(z.string().refine((s) => parseCidr(s) !== null, 'must be an IPv4 or IPv6 address or CIDR, e.g. 10.0.0.0/8'))
  .max(100);

const metadata = z
  .record(z.string().max(64), z.unknown())
  .refine((m) => JSON.stringify(m).length <= 4096, 'metadata must be at most 4 KB of JSON')
  .optional();

/** Credits a budget holds: a whole number. */
const credits = z.number().int().min(0).max(1_000_000_000_000);

/** Seconds of disuse after which a key ends: from a second to a year. */
const idleTimeout = z
  .number()
  .int()
  .min(1)
  .max(365 * 86_400);

/** An agent label: free text like a key's name, at most 100 characters. */
export const agentLabel = keyName;

/** An API's identifier (RFC 8707): an absolute http(s) URL without a fragment. */
export const resourceUrl = z
  .string()
  .max(2048)
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'https:' || u.protocol === 'http:') && u.hash === '';
    } catch {
      return false;
    }
  }, 'must be an absolute http(s) URL without a fragment, e.g. https://api.example.com');

export const createKeyBody = z
  .object({
    name: keyName,
    scope: z.enum(SCOPES).optional(),
    environment: z.string().max(32).optional(),
    tier: z.string().max(32).optional(),
    expires_at: isoTime.nullable().optional(),
    ip_allowlist: ipAllowlist.optional(),
    metadata,
    budget: credits.nullable().optional(),
    agent: agentLabel.nullable().optional(),
    idle_timeout_seconds: idleTimeout.nullable().optional(),
  })
  .strict();

/** A derive body: what a child key asks for; everything is at most its parent's. */
export const deriveKeyBody = z
  .object({
    name: keyName.optional(),
    scope: z.enum(SCOPES).optional(),
    ttl: z
      .number()
      .int()
      .min(1)
      .max(10 * 365 * 86_400)
      .optional(),
    expires_at: isoTime.optional(),
    agent: agentLabel.optional(),
    budget: credits.optional(),
    requests_per_minute: z.number().int().min(1).max(1_000_000_000).optional(),
    monthly_requests: z.number().int().min(1).max(1_000_000_000_000).optional(),
    ip_allowlist: ipAllowlist.optional(),
    resource: resourceUrl.optional(),
    metadata,
    idle_timeout_seconds: idleTimeout.optional(),
  })
  .strict()
  .refine((b) => b.ttl === undefined || b.expires_at === undefined, { message: 'give ttl or expires_at, not both', path: ['ttl'] });

export function toDeriveKeyInput(body: z.infer<typeof deriveKeyBody>): DeriveKeyInput {
  return {
    ...(body.name !== undefined ? { name: body.name } : {}),
    ...(body.scope ? { scope: body.scope } : {}),
    ...(body.ttl !== undefined ? { ttlSeconds: body.ttl } : {}),
    ...(body.expires_at !== undefined ? { expiresAt: Date.parse(body.expires_at) } : {}),
    ...(body.agent !== undefined ? { agent: body.agent } : {}),
    ...(body.budget !== undefined ? { budget: body.budget } : {}),
    ...(body.requests_per_minute !== undefined ? { requestsPerMinute: body.requests_per_minute } : {}),
    ...(body.monthly_requests !== undefined ? { monthlyRequests: body.monthly_requests } : {}),
    ...(body.ip_allowlist ? { ipAllowlist: body.ip_allowlist } : {}),
    ...(body.resource !== undefined ? { resource: body.resource } : {}),
    ...(body.metadata ? { metadata: body.metadata } : {}),
    ...(body.idle_timeout_seconds !== undefined ? { idleTimeoutSeconds: body.idle_timeout_seconds } : {}),
  };
}

export const agentBody = z.object({ agent: agentLabel.nullable() }).strict();

/** A create-key body, validated, as the key service takes it. */
export function toCreateKeyInput(body: z.infer<typeof createKeyBody>): CreateKeyInput {
  return {
    name: body.name,
    ...(body.scope ? { scope: body.scope } : {}),
    ...(body.environment ? { environment: body.environment } : {}),
    ...(body.tier ? { tier: body.tier } : {}),
    ...(body.expires_at !== undefined ? { expiresAt: body.expires_at === null ? null : Date.parse(body.expires_at) } : {}),
    ...(body.ip_allowlist ? { ipAllowlist: body.ip_allowlist } : {}),
    ...(body.metadata ? { metadata: body.metadata } : {}),
    ...(body.budget !== undefined ? { budget: body.budget } : {}),
    ...(body.agent !== undefined ? { agent: body.agent } : {}),
    ...(body.idle_timeout_seconds !== undefined ? { idleTimeoutSeconds: body.idle_timeout_seconds } : {}),
  };
}

export const rotateKeyBody = z
  .object({
    grace_period_seconds: z
      .number()
      .int()
      .min(0)
      .max(30 * 86_400)
      .optional(),
  })
  .strict();

export const inviteBody = z.object({ email: z.email().max(254), role: z.enum(ROLES) }).strict();
export const roleBody = z.object({ role: z.enum(ROLES) }).strict();
export const leakFindings = z
  .array(
    z.object({
      token: z.string().max(512),
      type: z.string().max(100),
      url: z.string().max(2000).nullish(),
      source: z.string().max(100).nullish(),
    }),
  )
  .max(1000);
export const checkKeysBody = z.object({ keys: z.array(z.string().max(512)).min(1).max(100) }).strict();
export const reportLeakBody = z.object({ key: z.string().max(512), url: z.string().max(2000).optional() }).strict();
export const webhookBody = z.object({ url: z.string().max(2000), events: z.array(z.string().max(64)).max(20).optional() }).strict();

export const verifyBody = z
  .object({
    key: z.string().max(512),
    environment: z.string().max(32).optional(),
    scope: z.enum(SCOPES).optional(),
    method: z.string().max(16).optional(),
    path: z.string().max(2048).optional(),
    ip: z.string().max(64).optional(),
    cost: z.number().int().min(0).max(1_000_000).optional(),
    resource: resourceUrl.optional(),
  })
  .strict();

export const keyIdParam = z.string().regex(/^key_[0-9A-Za-z]{22}$/);

/** Query strings. A parameter sent twice arrives as a list, which these refuse. */
export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).optional(),
  cursor: z.string().max(200).optional(),
});

/** A page request from `?limit=&cursor=`: 50 by default, 200 at most. */
export function pageRequestOf(q: z.infer<typeof pageQuery>): PageRequest {
  return { limit: q.limit ?? DEFAULT_PAGE_SIZE, after: q.cursor ? decodeCursor(q.cursor) : undefined };
}

export const keysQuery = pageQuery.extend({ environment: z.string().max(32).optional() });

export const auditQuery = pageQuery.extend({
  key_id: z.string().max(64).optional(),
  before: isoTime.optional(),
  agent: z.string().max(100).optional(),
  key_tree: z.string().max(64).optional(),
});

export const usageQuery = z.object({ agent: z.string().max(100).optional() });

/** A path id. Ids that cannot be ours are answered 404 by the route, never 400: an id's shape tells nothing. */
export const idParams = z.object({ id: z.string() });
