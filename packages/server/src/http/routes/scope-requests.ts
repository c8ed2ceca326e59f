import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { OAuthError } from '../../signin/grant-service.js';
import { type AppContext, about, type ZodApp } from '../context.js';
import { bearerToken } from '../request-auth.js';
import { backchannelAnswer } from '../responses.js';
import { resourceUrl } from '../schemas.js';

/** CIBA's backchannel authentication request, as a form or JSON; parameters it does not use are ignored (OAuth's rule). */
const backchannelBody = z.object({
  scope: z.string().max(100).optional(),
  binding_message: z.string().max(1000).optional(),
  resource: z.string().max(2048).optional(),
  requested_expiry: z.union([z.string().max(20), z.number()]).optional(),
});

/**
 * Scope requests over OpenID CIBA in poll mode: `POST /api/oauth/bc-authorize` with the agent's current key as
 * Bearer. The agent then polls the token endpoint with `grant_type=urn:openid:params:grant-type:ciba`.
 */
export function scopeRequestRoutes(app: ZodApp, ctx: AppContext): void {
  const noStore = (reply: FastifyReply) => reply.header('cache-control', 'no-store').header('pragma', 'no-cache');

  app.post(
    '/api/oauth/bc-authorize',
    {
      schema: {
        ...about('agent sign-in', 'Ask for a wider scope with the key held (OpenID CIBA, poll mode); a person decides', 'key'),
        body: backchannelBody,
        response: { 200: backchannelAnswer },
      },
    },
    async (req, reply) => {
      noStore(reply);
      const raw = bearerToken(req);
      if (!raw) {
        reply.header('www-authenticate', 'Bearer realm="keyward"');
        throw new OAuthError('invalid_token', 'Send the key the agent holds as Authorization: Bearer.', 401);
      }
      const b = req.body;
      if (!b.scope) throw new OAuthError('invalid_request', 'scope is required: the scope the agent asks for.');
      if (b.binding_message === undefined)
        throw new OAuthError('invalid_request', 'binding_message is required: say why the agent needs the scope.');
      if (b.resource !== undefined && !resourceUrl.safeParse(b.resource).success)
        throw new OAuthError('invalid_target', 'resource must be an absolute http(s) URL without a fragment.');
      let expiry: number | undefined;
      if (b.requested_expiry !== undefined) {
        expiry = Number(b.requested_expiry);
        if (!Number.isInteger(expiry) || expiry < 1 || expiry > 10 * 365 * 86_400)
          throw new OAuthError('invalid_request', 'requested_expiry must be a whole number of seconds, at least 1.');
      }
      const checked = await ctx.verifier.verify({
        key: raw,
        scope: 'read',
        method: 'POST',
        path: '/api/oauth/bc-authorize',
        ip: ctx.auth.clientIp(req),
      });
      if (!checked.valid) {
        reply.header('www-authenticate', 'Bearer realm="keyward", error="invalid_token"');
        throw new OAuthError('invalid_token', checked.message, 401);
      }
      const r = await ctx.scopeRequests.ask(checked.key, {
        scope: b.scope,
        reason: b.binding_message,
        resource: b.resource,
        requestedExpiry: expiry,
      });
      return { auth_req_id: r.authReqId, expires_in: r.expiresIn, interval: r.interval };
    },
  );
}
