import { SCOPES } from '@keyward/core';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { presentKey } from '../../keys/key-service.js';
import { OAuthError } from '../../signin/grant-service.js';
import { type AppContext, about, type ZodApp } from '../context.js';
import { authorizationServerAnswer, deviceCodeAnswer, tokenAnswer } from '../responses.js';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** OAuth ignores parameters it does not know (RFC 6749 §3.2), so this one is not strict. */
const tokenBody = z.object({
  grant_type: z.string().max(100).optional(),
  code: z.string().max(200).optional(),
  code_verifier: z.string().max(200).optional(),
  redirect_uri: z.string().max(2048).optional(),
  device_code: z.string().max(200).optional(),
  client_id: z.string().max(100).optional(),
});

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

  const issued = (r: { key: Parameters<typeof presentKey>[0]; rawKey: string }) => ({
    access_token: r.rawKey,
    token_type: 'Bearer' as const,
    scope: r.key.scope,
    key: presentKey(r.key, ctx.clock.now(), ctx.config.environments),
  });

  const deviceToken = async (b: z.infer<typeof tokenBody>) => {
    if (!b.device_code) throw new OAuthError('invalid_request', 'device_code is required.');
    return issued(await ctx.signIn.pollDevice(b.device_code));
  };

  app.post(
    '/api/cli/token',
    {
      schema: {
        ...about(tag, 'Exchange a sign-in code and its PKCE verifier for a key (OAuth token endpoint)', 'none'),
        body: tokenBody,
        response: { 200: tokenAnswer },
      },
    },
    async (req, reply) => {
      noStore(reply);
      const b = req.body;
      if (b.grant_type === DEVICE_GRANT) return deviceToken(b);
      if (b.grant_type !== undefined && b.grant_type !== 'authorization_code')
        throw new OAuthError('unsupported_grant_type', 'grant_type must be authorization_code or the device code grant.');
      if (!b.code || !b.code_verifier) throw new OAuthError('invalid_request', 'code and code_verifier are required.');
      return issued(await ctx.signIn.exchangeCode(b.code, b.code_verifier, b.redirect_uri));
    },
  );

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
        response_types_supported: ['code'],
        grant_types_supported: ['authorization_code', DEVICE_GRANT],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['none'],
        // Only what the agent flows grant: admin only when the operator allows it.
        scopes_supported: SCOPES.filter((s) => s !== 'admin' || ctx.config.agentSignIn.allowAdminScope),
        // keyward's own: which environments this server issues keys for, so a client can check before it asks.
        keyward_environments: ctx.config.environments.map((e) => ({ name: e.name, prefix: e.prefix })),
      };
    },
  );
}
