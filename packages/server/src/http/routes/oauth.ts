import { isScope, KeywardError, SCOPES, type Scope } from '@keyward/core';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import type { ApiKey } from '../../entities.js';
import { OAuthError } from '../../signin/grant-service.js';
import { type AppContext, about, type ZodApp } from '../context.js';
import { authorizationServerAnswer, deviceCodeAnswer, registrationAnswer, tokenAnswer } from '../responses.js';
import { resourceUrl } from '../schemas.js';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
export const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';

/** OAuth ignores parameters it does not know (RFC 6749 §3.2), so this one is not strict. */
const tokenBody = z.object({
  grant_type: z.string().max(100).optional(),
  code: z.string().max(200).optional(),
  code_verifier: z.string().max(200).optional(),
  redirect_uri: z.string().max(2048).optional(),
  device_code: z.string().max(200).optional(),
  client_id: z.string().max(100).optional(),
  // RFC 8693 token exchange: the key held (subject_token) for a narrower child key.
  subject_token: z.string().max(512).optional(),
  subject_token_type: z.string().max(200).optional(),
  requested_token_type: z.string().max(200).optional(),
  actor_token: z.string().max(512).optional(),
  scope: z.string().max(200).optional(),
  resource: z.string().max(2048).optional(),
  refresh_token: z.string().max(200).optional(),
  // OpenID CIBA (poll mode): the scope request being polled.
  auth_req_id: z.string().max(200).optional(),
});

/** RFC 7591 client metadata: checked field by field by the registry, which answers in RFC 7591's words. */
const registrationBody = z.record(z.string().max(100), z.unknown()).refine((m) => JSON.stringify(m).length <= 8192, 'at most 8 KB');

const deviceBody = z
  .object({
    client_id: z.string().max(100).optional(),
    environment: z.string().max(32).optional(),
    name: z.string().max(100).optional(),
    scope: z.string().max(16).optional(),
  })
  .strict();

/**
 * The OAuth endpoints of agent sign-in. They take JSON or form bodies (they are not cookie-authenticated, so the
 * JSON-only CSRF rule does not apply), answer errors in OAuth's shape (the OAuth plugin's error handler, for ours,
 * `OAuthError`s and malformed, oversized or invalid bodies alike), and are never cached.
 */
export function oauthRoutes(app: ZodApp, ctx: AppContext): void {
  const tag = 'agent sign-in';
  const noStore = (reply: FastifyReply) => reply.header('cache-control', 'no-store').header('pragma', 'no-cache');

  const issued = (r: { key: ApiKey; rawKey: string; refreshToken?: string }) => ({
    access_token: r.rawKey,
    token_type: 'Bearer' as const,
    scope: r.key.scope,
    ...(r.key.expiresAt !== null ? { expires_in: Math.max(0, Math.floor((r.key.expiresAt - ctx.clock.now()) / 1000)) } : {}),
    ...(r.refreshToken ? { refresh_token: r.refreshToken } : {}),
    key: ctx.keys.present(r.key),
  });

  /**
   * RFC 8693: the key an agent holds (`subject_token`) for a child key, derived as `POST /v1/keys/derive` would
   * (scope at most the subject's, never outliving it, revoked with it); the client id becomes its agent label.
   */
  const exchangeToken = async (b: z.infer<typeof tokenBody>, ip: string) => {
    if (!b.subject_token) throw new OAuthError('invalid_request', 'subject_token is required.');
    if (b.subject_token_type !== ACCESS_TOKEN_TYPE)
      throw new OAuthError('invalid_request', `subject_token_type must be ${ACCESS_TOKEN_TYPE}.`);
    if (b.requested_token_type !== undefined && b.requested_token_type !== ACCESS_TOKEN_TYPE)
      throw new OAuthError('invalid_request', `requested_token_type must be ${ACCESS_TOKEN_TYPE}.`);
    if (b.actor_token !== undefined) throw new OAuthError('invalid_request', 'actor_token is not supported.');
    const scopes = (b.scope ?? '').split(' ').filter(Boolean);
    if (scopes.length > 1 || (scopes[0] !== undefined && !isScope(scopes[0])))
      throw new OAuthError('invalid_scope', `scope must be one of ${SCOPES.join(', ')}.`);
    if (b.resource !== undefined && !resourceUrl.safeParse(b.resource).success)
      throw new OAuthError('invalid_target', 'resource must be an absolute http(s) URL without a fragment.');
    // Any working key may be exchanged, whatever its scope (a read key for a read child).
    const subject = await ctx.verifier.verify({ key: b.subject_token, scope: 'read', method: 'POST', path: '/api/cli/token', ip });
    if (!subject.valid) throw new OAuthError('invalid_grant', `The subject token is not a working key: ${subject.message}`);
    let child: Awaited<ReturnType<typeof ctx.keys.derive>>;
    try {
      child = await ctx.keys.derive(
        subject.key,
        {
          ...(scopes[0] !== undefined ? { scope: scopes[0] as Scope } : {}),
          ...(b.resource !== undefined ? { resource: b.resource } : {}),
          ...(b.client_id ? { agent: b.client_id } : {}),
        },
        'token_exchange',
      );
    } catch (error) {
      if (!(error instanceof KeywardError)) throw error;
      const field = error.details.field;
      throw new OAuthError(
        field === 'scope' ? 'invalid_scope' : field === 'resource' ? 'invalid_target' : 'invalid_request',
        error.message,
      );
    }
    return { ...issued(child), issued_token_type: ACCESS_TOKEN_TYPE };
  };

  const deviceToken = async (b: z.infer<typeof tokenBody>) => {
    if (!b.device_code) throw new OAuthError('invalid_request', 'device_code is required.');
    return issued(await ctx.signIn.pollDevice(b.device_code));
  };

  const cibaToken = async (b: z.infer<typeof tokenBody>) => {
    if (!b.auth_req_id) throw new OAuthError('invalid_request', 'auth_req_id is required.');
    const r = await ctx.scopeRequests.poll(b.auth_req_id);
    return { ...issued(r), approved_by: r.approver };
  };

  // The token endpoint the metadata advertises, and `/api/oauth/token` as its alias: every grant at either.
  for (const path of ['/api/cli/token', '/api/oauth/token']) {
    app.post(
      path,
      {
        schema: {
          ...about(
            tag,
            path === '/api/cli/token'
              ? 'The OAuth token endpoint: a sign-in code and its PKCE verifier, a device code, a refresh token, token exchange or a CIBA scope request, for a key'
              : 'The OAuth token endpoint (alias of /api/cli/token)',
            'none',
          ),
          body: tokenBody,
          response: { 200: tokenAnswer },
        },
      },
      async (req, reply) => {
        noStore(reply);
        return token(req.body, ctx.auth.clientIp(req));
      },
    );
  }

  async function token(b: z.infer<typeof tokenBody>, ip: string) {
    if (b.grant_type === CIBA_GRANT) return cibaToken(b);
    if (b.grant_type === DEVICE_GRANT) return deviceToken(b);
    if (b.grant_type === TOKEN_EXCHANGE) return exchangeToken(b, ip);
    if (b.grant_type === 'refresh_token') {
      if (!b.refresh_token) throw new OAuthError('invalid_request', 'refresh_token is required.');
      return issued(await ctx.signIn.refresh(b.refresh_token, b.client_id));
    }
    if (b.grant_type !== undefined && b.grant_type !== 'authorization_code')
      throw new OAuthError(
        'unsupported_grant_type',
        'grant_type must be authorization_code, refresh_token, the device code grant, token exchange (RFC 8693) or CIBA.',
      );
    if (!b.code || !b.code_verifier) throw new OAuthError('invalid_request', 'code and code_verifier are required.');
    return issued(await ctx.signIn.exchangeCode(b.code, b.code_verifier, b.redirect_uri, b.client_id, b.resource));
  }

  app.post(
    '/api/device/token',
    {
      schema: { ...about(tag, 'Poll for the key of a device sign-in (RFC 8628)', 'none'), body: tokenBody, response: { 200: tokenAnswer } },
    },
    async (req, reply) => {
      noStore(reply);
      if (req.body.grant_type !== undefined && req.body.grant_type !== DEVICE_GRANT)
        throw new OAuthError('unsupported_grant_type', `grant_type must be ${DEVICE_GRANT}.`);
      return deviceToken(req.body);
    },
  );

  app.post(
    '/api/device/code',
    {
      schema: {
        ...about(tag, 'Start a device sign-in: a user code for a person, a device code for the agent', 'none'),
        body: deviceBody,
        response: { 200: deviceCodeAnswer },
      },
    },
    async (req, reply) => {
      noStore(reply);
      let request: ReturnType<typeof ctx.signIn.checkRequest>;
      try {
        request = ctx.signIn.checkRequest({
          environment: req.body.environment,
          name: req.body.name,
          scope: req.body.scope,
          clientId: req.body.client_id,
        });
      } catch (error) {
        throw new OAuthError('invalid_request', (error as Error).message);
      }
      const d = await ctx.signIn.startDevice(request, ctx.auth.clientIp(req));
      const verification = `${ctx.config.publicUrl}/device`;
      return {
        device_code: d.deviceCode,
        user_code: d.userCode,
        verification_uri: verification,
        verification_uri_complete: `${verification}?user_code=${d.userCode}`,
        expires_in: d.expiresIn,
        interval: d.interval,
      };
    },
  );

  app.post(
    '/api/oauth/register',
    {
      schema: {
        ...about(tag, 'Dynamic client registration (RFC 7591): public clients with loopback or https redirect URIs', 'none'),
        body: registrationBody,
        response: { 201: registrationAnswer },
      },
    },
    async (req, reply) => {
      noStore(reply);
      const c = await ctx.clients.register(req.body, ctx.auth.clientIp(req));
      return reply.code(201).send({
        client_id: c.clientId,
        client_id_issued_at: Math.floor(c.createdAt / 1000),
        client_name: c.name,
        redirect_uris: c.redirectUris,
        grant_types: c.grantTypes,
        response_types: ['code'],
        token_endpoint_auth_method: 'none' as const,
      });
    },
  );

  app.get(
    '/.well-known/oauth-authorization-server',
    {
      schema: { ...about(tag, 'OAuth 2.0 authorization server metadata (RFC 8414)', 'none'), response: { 200: authorizationServerAnswer } },
    },
    async () => {
      const base = ctx.config.publicUrl;
      return {
        issuer: base,
        authorization_endpoint: `${base}/auth/cli`,
        token_endpoint: `${base}/api/cli/token`,
        device_authorization_endpoint: `${base}/api/device/code`,
        registration_endpoint: `${base}/api/oauth/register`,
        response_types_supported: ['code'],
        grant_types_supported: ['authorization_code', 'refresh_token', DEVICE_GRANT, TOKEN_EXCHANGE, CIBA_GRANT],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['none'],
        // Only what the agent flows grant: admin only when the operator allows it.
        scopes_supported: [...SCOPES.filter((s) => s !== 'admin' || ctx.config.agentSignIn.allowAdminScope), 'offline_access'],
        // MCP's authorization: clients may name themselves by an https metadata document (preferred), or register.
        client_id_metadata_document_supported: true,
        authorization_response_iss_parameter_supported: true,
        resource_parameter_supported: true,
        // OpenID CIBA, poll mode: an agent asks for a wider scope with the key it holds; a person decides.
        backchannel_authentication_endpoint: `${base}/api/oauth/bc-authorize`,
        backchannel_token_delivery_modes_supported: ['poll'],
        backchannel_user_code_parameter_supported: false,
        // keyward's own: which environments this server issues keys for, so a client can check before it asks.
        keyward_environments: ctx.environments.served.map((e) => ({ name: e.name, prefix: e.prefix })),
      };
    },
  );
}
