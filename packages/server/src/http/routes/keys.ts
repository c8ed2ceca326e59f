import { KeywardError } from '@keyward/core';
import { type AppContext, about, actorOf, type ZodApp } from '../context.js';
import {
  auditAnswer,
  createdKeyAnswer,
  keyAnswer,
  keyListAnswer,
  keyUsageAnswer,
  requestLogAnswer,
  revokedKeyAnswer,
  rotatedKeyAnswer,
} from '../responses.js';
import {
  auditQuery,
  createKeyBody,
  idParams,
  keyIdParam,
  keysQuery,
  pageQuery,
  pageRequestOf,
  rotateKeyBody,
  toCreateKeyInput,
  usageQuery,
} from '../schemas.js';

/** Ids that cannot be ours are simply not found: no 400 that would tell an id's shape apart from its existence. */
function keyId(params: { id: string }): string {
  if (!keyIdParam.safeParse(params.id).success) throw new KeywardError('not_found', 'No such API key.');
  return params.id;
}

export function keyRoutes(app: ZodApp, ctx: AppContext): void {
  const tag = 'keys';
  const config = { auth: 'management' } as const;

  app.post(
    '/api/developers/keys',
    {
      config,
      schema: {
        ...about(tag, 'Create a key; the raw key is in this answer only', 'management'),
        body: createKeyBody,
        response: { 201: createdKeyAnswer },
      },
    },
    async (req, reply) => {
      const { key, rawKey } = await ctx.keys.create(actorOf(req), toCreateKeyInput(req.body));
      reply.header('cache-control', 'no-store');
      return reply.code(201).send({ key: { ...ctx.keys.present(key), raw_key: rawKey } });
    },
  );

  app.get(
    '/api/developers/keys',
    {
      config,
      schema: {
        ...about(tag, "List the organization's keys, newest first, a page at a time (never a raw key or hash)", 'management'),
        querystring: keysQuery,
        response: { 200: keyListAnswer },
      },
    },
    async (req) => {
      const { environment } = req.query;
      const page = await ctx.keys.list(actorOf(req), environment ? { environment } : {}, pageRequestOf(req.query));
      return { keys: page.items.map((k) => ctx.keys.present(k)), next_cursor: page.next };
    },
  );

  app.get(
    '/api/developers/keys/:id',
    { config, schema: { ...about(tag, 'One key', 'management'), params: idParams, response: { 200: keyAnswer } } },
    async (req) => ({ key: ctx.keys.present(await ctx.keys.get(actorOf(req), keyId(req.params))) }),
  );

  app.delete(
    '/api/developers/keys/:id',
    {
      config,
      schema: {
        ...about(tag, 'Revoke a key, at once and for good (a key may revoke itself)', 'management'),
        params: idParams,
        response: { 200: revokedKeyAnswer },
      },
    },
    async (req) => {
      const key = await ctx.keys.revoke(actorOf(req), keyId(req.params));
      return { message: 'API key revoked successfully', key: ctx.keys.present(key) };
    },
  );

  app.post(
    '/api/developers/keys/:id/rotate',
    {
      config,
      schema: {
        ...about(tag, 'Mint a successor; the old key works for the grace period', 'management'),
        params: idParams,
        body: rotateKeyBody,
        response: { 201: rotatedKeyAnswer },
      },
    },
    async (req, reply) => {
      const { key, rawKey, previous } = await ctx.keys.rotate(actorOf(req), keyId(req.params), req.body.grace_period_seconds);
      reply.header('cache-control', 'no-store');
      return reply.code(201).send({
        key: { ...ctx.keys.present(key), raw_key: rawKey },
        previous: ctx.keys.present(previous),
      });
    },
  );

  app.get(
    '/api/developers/keys/:id/usage',
    {
      config,
      schema: {
        ...about(tag, 'Limits, use this minute and month, daily series, recent requests', 'management'),
        params: idParams,
        querystring: usageQuery,
        response: { 200: keyUsageAnswer },
      },
    },
    async (req) => {
      const { agent } = req.query;
      const { key, plan, usage, quota, budget, tree, recent } = await ctx.usage.keySummary(actorOf(req), keyId(req.params), {
        ...(agent !== undefined ? { agent } : {}),
      });
      return {
        key_id: key.id,
        tier: key.tier,
        agent: agent ?? null,
        minute: { limit: plan.requestsPerMinute },
        month: {
          month: usage.month,
          limit: plan.monthlyRequests,
          // The quota belongs to the key's lineage (the key and its rotated predecessors and successors) and
          // counts the requests of every key derived from it.
          used: quota.used,
          remaining: quota.remaining,
          allowed: usage.allowed,
          denied: usage.denied,
          total: usage.allowed + usage.denied,
          resets_at: new Date(usage.resetsAt).toISOString(),
        },
        budget,
        tree: { keys: tree.keys, allowed: tree.allowed, denied: tree.denied, total: tree.allowed + tree.denied },
        daily: usage.daily.map((d) => ({ day: d.day, allowed: d.allowed, denied: d.denied, credits: d.credits })),
        recent_requests: recent.map((r) => ({
          method: r.method,
          path: r.path,
          status: r.status,
          ip: r.ip,
          at: new Date(r.at).toISOString(),
        })),
        last_used_at: key.lastUsedAt === null ? null : new Date(key.lastUsedAt).toISOString(),
      };
    },
  );

  app.get(
    '/api/developers/keys/:id/requests',
    {
      config,
      schema: {
        ...about(tag, "A key's request log, newest first, a page at a time", 'management'),
        params: idParams,
        querystring: pageQuery,
        response: { 200: requestLogAnswer },
      },
    },
    async (req) => {
      const page = await ctx.usage.requests(actorOf(req), keyId(req.params), pageRequestOf(req.query));
      return {
        // Attribution: the agent the key was issued to made these requests.
        agent: page.key.agent,
        requests: page.items.map((r) => ({
          id: r.id,
          method: r.method,
          path: r.path,
          status: r.status,
          ip: r.ip,
          at: new Date(r.at).toISOString(),
        })),
        next_cursor: page.next,
      };
    },
  );

  app.get(
    '/api/audit',
    {
      config,
      schema: { ...about('audit', 'Audit events, newest first', 'management'), querystring: auditQuery, response: { 200: auditAnswer } },
    },
    async (req) => {
      const q = req.query;
      const page = await ctx.audit.list(
        actorOf(req),
        {
          ...(q.key_id ? { keyId: q.key_id } : {}),
          ...(q.before ? { before: Date.parse(q.before) } : {}),
          ...(q.agent !== undefined ? { agent: q.agent } : {}),
          ...(q.key_tree ? { keyTree: q.key_tree } : {}),
        },
        pageRequestOf(q),
      );
      return {
        next_cursor: page.next,
        events: page.items.map((e) => ({
          id: e.id,
          action: e.action,
          actor: { type: e.actorType, id: e.actorId },
          key_id: e.keyId,
          data: e.data,
          at: new Date(e.at).toISOString(),
        })),
      };
    },
  );
}
