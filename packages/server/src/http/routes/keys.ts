import { KeywardError } from '@keyward/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { presentKey } from '../../keys/key-service.js';
import { type AppContext, type RouteDoc, route } from '../context.js';
import { parse } from '../errors.js';
import { createKeyBody, keyIdParam, rotateKeyBody, toCreateKeyInput } from '../schemas.js';

/** Ids that cannot be ours are simply not found: no 400 that would tell an id's shape apart from its existence. */
function keyId(req: FastifyRequest): string {
  const id = (req.params as { id: string }).id;
  if (!keyIdParam.safeParse(id).success) throw new KeywardError('not_found', 'No such API key.');
  return id;
}

export function keyRoutes(app: FastifyInstance, ctx: AppContext, docs: RouteDoc[]): void {
  const tag = 'keys';
  const now = () => ctx.clock.now();

  route(
    app,
    docs,
    {
      method: 'POST',
      path: '/api/developers/keys',
      summary: 'Create a key; the raw key is in this answer only',
      auth: 'management',
      body: createKeyBody,
      tag,
    },
    async (req, reply) => {
      const actor = await ctx.auth.actor(req, reply);
      const body = parse(createKeyBody, req.body);
      const { key, rawKey } = await ctx.keys.create(actor, toCreateKeyInput(body));
      reply.header('cache-control', 'no-store');
      return reply.code(201).send({ key: { ...presentKey(key, now()), raw_key: rawKey } });
    },
  );

  route(
    app,
    docs,
    {
      method: 'GET',
      path: '/api/developers/keys',
      summary: "List the organization's keys (never a raw key or hash)",
      auth: 'management',
      tag,
    },
    async (req, reply) => {
      const actor = await ctx.auth.actor(req, reply);
      const { environment } = req.query as { environment?: unknown };
      const filter = typeof environment === 'string' && environment ? { environment } : {};
      return { keys: (await ctx.keys.list(actor, filter)).map((k) => presentKey(k, now())) };
    },
  );

  route(app, docs, { method: 'GET', path: '/api/developers/keys/:id', summary: 'One key', auth: 'management', tag }, async (req, reply) => {
    const actor = await ctx.auth.actor(req, reply);
    return { key: presentKey(await ctx.keys.get(actor, keyId(req)), now()) };
  });

  route(
    app,
    docs,
    {
      method: 'DELETE',
      path: '/api/developers/keys/:id',
      summary: 'Revoke a key, at once and for good (a key may revoke itself)',
      auth: 'management',
      tag,
    },
    async (req, reply) => {
      const actor = await ctx.auth.actor(req, reply);
      const key = await ctx.keys.revoke(actor, keyId(req));
      return { message: 'API key revoked successfully', key: presentKey(key, now()) };
    },
  );

  route(
    app,
    docs,
    {
      method: 'POST',
      path: '/api/developers/keys/:id/rotate',
      summary: 'Mint a successor; the old key works for the grace period',
      auth: 'management',
      body: rotateKeyBody,
      tag,
    },
    async (req, reply) => {
      const actor = await ctx.auth.actor(req, reply);
      const id = keyId(req);
      const body = parse(rotateKeyBody, req.body);
      const { key, rawKey, previous } = await ctx.keys.rotate(actor, id, body.grace_period_seconds);
      reply.header('cache-control', 'no-store');
      return reply.code(201).send({ key: { ...presentKey(key, now()), raw_key: rawKey }, previous: presentKey(previous, now()) });
    },
  );

  route(
    app,
    docs,
    {
      method: 'GET',
      path: '/api/developers/keys/:id/usage',
      summary: 'Limits, use this minute and month, daily series, recent requests',
      auth: 'management',
      tag,
    },
    async (req, reply) => {
      const actor = await ctx.auth.actor(req, reply);
      const { key, plan, usage, quotaUsed, recent } = await ctx.usage.keySummary(actor, keyId(req));
      return {
        key_id: key.id,
        tier: key.tier,
        minute: { limit: plan.requestsPerMinute },
        month: {
          month: usage.month,
          limit: plan.monthlyRequests,
          // The quota belongs to the key's lineage (the key and its rotated predecessors and successors).
          used: quotaUsed,
          remaining: plan.monthlyRequests === null ? null : Math.max(0, plan.monthlyRequests - quotaUsed),
          allowed: usage.allowed,
          denied: usage.denied,
          total: usage.allowed + usage.denied,
          resets_at: new Date(usage.resetsAt).toISOString(),
        },
        daily: usage.daily.map((d) => ({ day: d.day, allowed: d.allowed, denied: d.denied })),
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

  route(
    app,
    docs,
    {
      method: 'GET',
      path: '/api/audit',
      summary: 'Audit events, newest first (?key_id=, ?limit=, ?before=)',
      auth: 'management',
      tag: 'audit',
    },
    async (req, reply) => {
      const actor = await ctx.auth.actor(req, reply);
      const q = req.query as { key_id?: unknown; limit?: unknown; before?: unknown };
      const limit = Math.min(500, Math.max(1, Number.parseInt(String(q.limit ?? '100'), 10) || 100));
      const before = typeof q.before === 'string' && !Number.isNaN(Date.parse(q.before)) ? Date.parse(q.before) : undefined;
      const events = await ctx.audit.list(actor, {
        limit,
        ...(typeof q.key_id === 'string' && q.key_id ? { keyId: q.key_id } : {}),
        ...(before ? { before } : {}),
      });
      return {
        events: events.map((e) => ({
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
