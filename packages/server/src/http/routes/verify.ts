import { toWire } from '@keyward/core';
import { outcomeOf } from '../../verify/in-process-verifier.js';
import { type AppContext, about, type ZodApp } from '../context.js';
import { setLimitHeaders } from '../request-auth.js';
import { typedAnswer, verifyAnswer, whoamiAnswer } from '../responses.js';
import { verifyBody } from '../schemas.js';

export function verifyRoutes(app: ZodApp, ctx: AppContext): void {
  const tag = 'verify';
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

  app.post(
    '/v1/keys/verify',
    {
      ...typedAnswer,
      schema: {
        ...about(tag, 'Verify a key for a request; answers 200 with valid true or false and a code', 'none'),
        body: verifyBody,
        response: { 200: verifyAnswer },
      },
    },
    async (req, reply) => {
      const body = req.body;
      const started = process.hrtime.bigint();
      // Only a verifier may say where the request came from and what it asked for; anyone else holding a key is
      // checked from their own address, so a stolen key cannot spend its owner's budget from elsewhere.
      const verifier = ctx.auth.verifierOf(req);
      const result = await ctx.verifier.verify({
        key: body.key,
        ...(body.environment ? { environment: body.environment } : {}),
        ...(body.scope ? { scope: body.scope } : {}),
        ...(body.method ? { method: body.method } : {}),
        path: verifier && body.path ? body.path : '/v1/keys/verify',
        ip: verifier && body.ip ? body.ip : ctx.auth.clientIp(req),
        ...(body.cost !== undefined ? { cost: body.cost } : {}),
        ...(body.resource !== undefined ? { resource: body.resource } : {}),
      });
      ctx.metrics.observeVerify(result.valid ? 'VALID' : result.code, started);
      setLimitHeaders(reply, result);
      if (!result.valid && result.retryAfterSeconds !== undefined) reply.header('retry-after', String(result.retryAfterSeconds));
      const outcome = outcomeOf(result);
      if (outcome.valid && !verifier) {
        // The key's organization, metadata and owner, and whether the answer may be reused, are for verifiers only.
        const { organizationId: _org, metadata: _metadata, ownerId: _owner, ...key } = outcome.key;
        return toWire({ ...outcome, key, cache: undefined });
      }
      return toWire(outcome);
    },
  );

  app.get(
    '/v1/whoami',
    {
      ...typedAnswer,
      schema: { ...about(tag, 'Does my key work? The key, its organization and limits', 'key'), response: { 200: whoamiAnswer } },
    },
    async (req, reply) => {
      const started = process.hrtime.bigint();
      let result: Awaited<ReturnType<typeof ctx.auth.requireKey>>;
      try {
        result = await ctx.auth.requireKey(req, reply);
      } catch (error) {
        ctx.metrics.observeVerify('DENIED', started);
        throw error;
      }
      ctx.metrics.observeVerify('VALID', started);
      const k = result.key.record;
      const plan = result.key.plan;
      return {
        id: k.id,
        name: k.name,
        environment: k.environment,
        base_url: ctx.environments.get(k.environment)?.baseUrl ?? null,
        scope: result.key.scope,
        tier: k.tier,
        organization: { id: k.orgId, name: k.orgName },
        created_by: k.createdBy,
        expires_at: iso(k.expiresAt),
        agent: k.agent,
        parent_id: k.parentId,
        depth: k.ancestors.length,
        resource: k.resource,
        limits: { requests_per_minute: plan.requestsPerMinute, monthly_requests: plan.monthlyRequests, budget: k.budget },
        ratelimit: result.ratelimit,
        budget: result.budget ?? null,
      };
    },
  );
}
