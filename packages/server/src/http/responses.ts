import { ROLES, SCOPES, VERIFY_CODES, VERIFY_REASONS } from '@keyward/core';
import { z } from 'zod';

/**
 * Response bodies: what each route promises, checked as it answers (a route that breaks its promise is a bug, caught
 * by the suite) and published in /openapi.json. Times are ISO 8601 strings; absent times are null.
 */
const time = z.iso.datetime();
const timeOrNull = time.nullable();

/**
 * Route options for the hot path (`POST /v1/keys/verify`, `GET /v1/whoami`): the answer is written with
 * `JSON.stringify` instead of being parsed by its zod schema first. Those handlers build their answer field by field
 * (`toWire`, an object literal), and the zod type provider already holds that object to the schema's type when it
 * compiles; parsing it again at run time cost a tenth of the request (see docs/operations.md, "Performance"). The schema still
 * documents the answer in /openapi.json, and the HTTP tests parse each answer with it.
 */
export const typedAnswer = { serializerCompiler: () => (data: unknown) => JSON.stringify(data) } as const;

export const errorEnvelope = z
  .object({
    error: z.looseObject({ code: z.string(), message: z.string(), request_id: z.string().optional() }),
  })
  .meta({ id: 'Error', description: 'Every error of the JSON API: a stable code, a sentence, the request id, and fields that say more.' });

export const oauthErrorBody = z
  .object({ error: z.string(), error_description: z.string().optional() })
  .meta({ id: 'OAuthError', description: "RFC 6749's error shape, used by the token and device endpoints." });

const rateLimit = z.object({ limit: z.number(), remaining: z.number(), reset: z.number() });
const budgetState = z.object({ limit: z.number(), remaining: z.number() });

export const apiKey = z
  .object({
    id: z.string(),
    object: z.literal('api_key'),
    name: z.string(),
    environment: z.string(),
    scope: z.enum(SCOPES),
    tier: z.string(),
    prefix: z.string(),
    last4: z.string(),
    display: z.string(),
    status: z.enum(['active', 'revoked', 'expired', 'retired']),
    organization_id: z.string(),
    created_by: z.string(),
    created_at: time,
    expires_at: timeOrNull,
    revoked_at: timeOrNull,
    last_used_at: timeOrNull,
    ip_allowlist: z.array(z.string()),
    metadata: z.record(z.string(), z.unknown()),
    rotated_from: z.string().nullable(),
    rotated_to: z.string().nullable(),
    lineage_id: z.string(),
    parent_id: z.string().nullable().meta({ description: 'The key this one was derived from (POST /v1/keys/derive), or null.' }),
    depth: z.number().meta({ description: '0 for a key made by a person, 1 for its child, and so on.' }),
    agent: z.string().nullable().meta({ description: 'The agent the key was issued to, for attribution.' }),
    budget: z.number().nullable().meta({ description: 'Credits the key and its descendants may spend in all; null for none.' }),
    limits: z
      .object({ requests_per_minute: z.number().nullable(), monthly_requests: z.number().nullable() })
      .meta({ description: "The key's own caps under its plan (null: the plan's)." }),
    resource: z.string().nullable().meta({ description: 'The API (base URL) the key is bound to, or null.' }),
    idle_timeout_seconds: z
      .number()
      .nullable()
      .meta({ description: 'Seconds of disuse after which the key expires for good (401 reason idle_expired); null for none.' }),
    scope_request: z
      .object({ id: z.string(), requesting_key_id: z.string(), approved_by: z.string(), approver_email: z.string(), reason: z.string() })
      .nullable()
      .meta({
        description: 'For a key issued for a scope request: the request, the key that asked, who approved it (a user id) and why.',
      }),
    imported_from: z
      .string()
      .nullable()
      .meta({ description: 'The product the key was imported from (unkey, better-auth, csv); rotate it for a keyward key.' }),
    leak: z
      .object({ url: z.string().nullable(), reporter: z.string(), source: z.string().nullable(), reported_at: time })
      .nullable()
      .meta({ description: 'The last report that the key was found in public (then revoked, unless leaks.on_report is notify).' }),
  })
  .meta({ id: 'ApiKey', description: 'A key as it is shown: never its raw value or hash.' });

const withRawKey = apiKey.extend({ raw_key: z.string() });

export const keyAnswer = z.object({ key: apiKey });
export const createdKeyAnswer = z.object({ key: withRawKey });
export const rotatedKeyAnswer = z.object({ key: withRawKey, previous: apiKey });
export const revokedKeyAnswer = z.object({ message: z.string(), key: apiKey });
/** Where the next page starts: pass it back as `?cursor=`; null on the last page. */
const nextCursor = z.string().nullable();

export const keyTreeAnswer = z.object({
  key: apiKey,
  descendants: z
    .array(apiKey)
    .meta({ description: 'Every key derived from it, level by level (parent_id links them), 1,000 at most per level.' }),
});
export const keyListAnswer = z.object({ keys: z.array(apiKey), next_cursor: nextCursor });

const requestEntry = z.object({ method: z.string(), path: z.string(), status: z.number(), ip: z.string(), at: time });

export const requestLogAnswer = z.object({
  agent: z.string().nullable().meta({ description: 'The agent the key was issued to: who made these requests.' }),
  requests: z.array(requestEntry.extend({ id: z.string() })),
  next_cursor: nextCursor,
});

export const keyUsageAnswer = z.object({
  key_id: z.string(),
  tier: z.string(),
  minute: z.object({ limit: z.number().nullable() }),
  month: z.object({
    month: z.string(),
    limit: z.number().nullable(),
    used: z.number(),
    remaining: z.number().nullable(),
    allowed: z.number(),
    denied: z.number(),
    total: z.number(),
    resets_at: time,
  }),
  agent: z.string().nullable().meta({ description: 'The agent filter applied (?agent=), or null.' }),
  budget: z
    .object({ limit: z.number(), used: z.number(), remaining: z.number() })
    .nullable()
    .meta({ description: 'Credits: the budget, what the lineage and its descendants spent, and what is left; null for none.' }),
  tree: z
    .object({ keys: z.number(), allowed: z.number(), denied: z.number(), total: z.number() })
    .meta({ description: 'The key and every key derived from it, this month.' }),
  daily: z.array(z.object({ day: z.string(), allowed: z.number(), denied: z.number(), credits: z.number() })),
  recent_requests: z.array(requestEntry),
  last_used_at: timeOrNull,
});

export const auditAnswer = z.object({
  events: z.array(
    z.object({
      id: z.string(),
      action: z.string(),
      actor: z.object({ type: z.enum(['user', 'key', 'system']), id: z.string() }),
      key_id: z.string().nullable(),
      data: z.record(z.string(), z.unknown()),
      at: time,
    }),
  ),
  next_cursor: nextCursor,
});

export const member = z
  .object({
    id: z.string(),
    email: z.string(),
    role: z.enum(ROLES),
    status: z.enum(['active', 'invited']),
    user_id: z.string().nullable(),
    invited_by: z.string().nullable(),
    created_at: timeOrNull,
    joined_at: timeOrNull,
    invite_expires_at: timeOrNull,
  })
  .meta({ id: 'Member' });

export const memberAnswer = z.object({ member });
const webhook = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.string()),
  created_at: z.string(),
});
export const webhookAnswer = z.object({ webhook });
export const createdWebhookAnswer = z.object({ webhook, secret: z.string() });
export const webhookListAnswer = z.object({ webhooks: z.array(webhook) });
const delivery = z.object({
  id: z.string(),
  webhook_id: z.string(),
  event_type: z.string(),
  status: z.enum(['pending', 'delivered', 'failed']),
  created_at: z.string(),
  next_attempt_at: z.string().nullable(),
  attempts: z.array(z.object({ at: z.string(), status: z.number().nullable(), error: z.string().nullable(), ms: z.number() })),
  payload: z.unknown(),
});
export const deliveryAnswer = z.object({ delivery });
export const deliveryListAnswer = z.object({ deliveries: z.array(delivery), next_cursor: nextCursor });
export const memberListAnswer = z.object({ members: z.array(member), next_cursor: nextCursor });
export const removedMemberAnswer = z.object({ message: z.string(), member });
export const invitationAnswer = z.object({ member, invite_token: z.string(), invite_url: z.string() });

const user = z.object({ id: z.string(), email: z.string(), name: z.string().nullable(), created_at: time });

export const meAnswer = z
  .object({
    user,
    organization: z.object({ id: z.string(), name: z.string(), plan: z.string() }).optional(),
    role: z.enum(ROLES).optional(),
    member_id: z.string().optional(),
    plan: z
      .object({
        name: z.string(),
        requests_per_minute: z.number().nullable(),
        monthly_requests: z.number().nullable(),
        max_active_keys: z.number().nullable(),
      })
      .optional(),
    environments: z.array(z.object({ name: z.string(), prefix: z.string(), base_url: z.string().nullable() })).optional(),
  })
  .meta({ id: 'Me', description: 'The signed-in person and, when they belong to one, their organization, role and plan.' });

export const messageAnswer = z.object({ message: z.string() });

export const whoamiAnswer = z.object({
  id: z.string(),
  name: z.string(),
  environment: z.string(),
  base_url: z.string().nullable(),
  scope: z.enum(SCOPES),
  tier: z.string(),
  organization: z.object({ id: z.string(), name: z.string() }),
  created_by: z.string(),
  expires_at: timeOrNull,
  agent: z.string().nullable(),
  parent_id: z.string().nullable(),
  depth: z.number(),
  resource: z.string().nullable(),
  limits: z.object({ requests_per_minute: z.number().nullable(), monthly_requests: z.number().nullable(), budget: z.number().nullable() }),
  ratelimit: rateLimit.nullable(),
  budget: budgetState.nullable().meta({ description: 'Credits left after this request: the tightest of the key and its ancestors.' }),
});

/** The wire form of a verify outcome (`VerifyWire` in @keyward/core, which reads it back with `fromWire`). */
export const verifyAnswer = z
  .discriminatedUnion('valid', [
    z.object({
      valid: z.literal(true),
      key_id: z.string(),
      name: z.string(),
      environment: z.string(),
      scope: z.enum(SCOPES),
      organization_id: z.string().optional(),
      metadata: z.record(z.string(), z.unknown()).optional(),
      tier: z.string().optional(),
      owner_id: z.string().optional(),
      expires_at: timeOrNull.optional(),
      agent: z.string().nullable().optional(),
      parent_id: z.string().nullable().optional(),
      ratelimit: rateLimit.nullable(),
      budget: budgetState.nullable().optional(),
      cache: z
        .object({ limited: z.boolean(), until: timeOrNull, ancestor_ids: z.array(z.string()) })
        .optional()
        .meta({
          description:
            'Verifier credential only: whether this answer may be reused for the same request and until when (limited: the key has a limit, quota or budget, so only for requests paid from a leased allowance).',
        }),
    }),
    z.object({
      valid: z.literal(false),
      code: z.enum(VERIFY_CODES),
      message: z.string(),
      reason: z.enum(VERIFY_REASONS).optional(),
      required_scope: z.enum(SCOPES).optional(),
      key_scope: z.enum(SCOPES).optional(),
      key_id: z.string().optional(),
      environment: z.string().optional(),
      retry_after: z.number().optional(),
      ratelimit: rateLimit.nullable().optional(),
      budget: budgetState.nullable().optional(),
    }),
  ])
  .meta({ id: 'VerifyAnswer' });

export const tokenAnswer = z.object({
  access_token: z.string(),
  token_type: z.literal('Bearer'),
  scope: z.enum(SCOPES),
  key: apiKey,
  issued_token_type: z.string().optional().meta({ description: 'Token exchange (RFC 8693) only.' }),
  expires_in: z.number().optional(),
  refresh_token: z.string().optional().meta({ description: 'With offline_access: single-use, rotated on each refresh.' }),
  approved_by: z
    .object({ id: z.string(), email: z.string(), name: z.string().nullable() })
    .optional()
    .meta({ description: 'CIBA scope requests only: the person who approved the request.' }),
});

export const backchannelAnswer = z.object({
  auth_req_id: z.string().meta({ description: 'What the agent polls the token endpoint with (grant urn:openid:params:grant-type:ciba).' }),
  expires_in: z.number().meta({ description: 'Seconds the request waits for a decision (scope_requests.expires_in_seconds).' }),
  interval: z.number().meta({ description: 'Seconds between polls; sooner is slow_down.' }),
});

export const registrationAnswer = z.object({
  client_id: z.string(),
  client_id_issued_at: z.number(),
  client_name: z.string(),
  redirect_uris: z.array(z.string()),
  grant_types: z.array(z.string()),
  response_types: z.array(z.string()),
  token_endpoint_auth_method: z.literal('none'),
});

export const deviceCodeAnswer = z.object({
  device_code: z.string(),
  user_code: z.string(),
  verification_uri: z.string(),
  verification_uri_complete: z.string(),
  expires_in: z.number(),
  interval: z.number(),
});

export const authorizationServerAnswer = z.object({
  issuer: z.string(),
  authorization_endpoint: z.string(),
  token_endpoint: z.string(),
  device_authorization_endpoint: z.string(),
  registration_endpoint: z.string(),
  response_types_supported: z.array(z.string()),
  grant_types_supported: z.array(z.string()),
  code_challenge_methods_supported: z.array(z.string()),
  token_endpoint_auth_methods_supported: z.array(z.string()),
  scopes_supported: z.array(z.string()),
  client_id_metadata_document_supported: z.boolean(),
  authorization_response_iss_parameter_supported: z.boolean(),
  resource_parameter_supported: z.boolean(),
  backchannel_authentication_endpoint: z.string(),
  backchannel_token_delivery_modes_supported: z.array(z.string()),
  backchannel_user_code_parameter_supported: z.boolean(),
  keyward_environments: z.array(z.object({ name: z.string(), prefix: z.string() })),
});

export const healthAnswer = z.object({ status: z.literal('ok') });
