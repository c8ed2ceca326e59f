import { KeywardError } from '@keyward/core';
import { type AppContext, about, actorOf, type ZodApp } from '../context.js';
import { createdKeyAnswer, keyAnswer, keyTreeAnswer } from '../responses.js';
import { agentBody, deriveKeyBody, idParams, keyIdParam, toDeriveKeyInput } from '../schemas.js';

/** Child keys: derived by a key for a sub-agent, shown as a tree, labelled with the agent they were issued to. */
export function delegationRoutes(app: ZodApp, ctx: AppContext): void {
  const tag = 'keys';
  const keyId = (params: { id: string }) => {
    if (!keyIdParam.safeParse(params.id).success) throw new KeywardError('not_found', 'No such API key.');
    return params.id;
  };

  app.post(
    '/v1/keys/derive',
    {
      schema: {
        ...about(tag, 'Derive a child key from the Bearer key: every limit at most its own; the raw key is in this answer only', 'key'),
        body: deriveKeyBody,
        response: { 201: createdKeyAnswer },
      },
    },
    async (req, reply) => {
      // Any key that works may derive (a request of its own, counted and limited like any other).
      const parent = await ctx.auth.requireKey(req, reply, 'read');
      const { key, rawKey } = await ctx.keys.derive(parent.key, toDeriveKeyInput(req.body));
      reply.header('cache-control', 'no-store');
      return reply.code(201).send({ key: { ...ctx.keys.present(key), raw_key: rawKey } });
    },
  );

  app.get(
    '/api/developers/keys/:id/tree',
    {
      config: { auth: 'management' },
      schema: {
        ...about(tag, 'A key and the keys derived from it, level by level', 'management'),
        params: idParams,
        response: { 200: keyTreeAnswer },
      },
    },
    async (req) => {
      const { root, levels } = await ctx.keys.tree(actorOf(req), keyId(req.params));
      return { key: ctx.keys.present(root), descendants: levels.flat().map((k) => ctx.keys.present(k)) };
    },
  );

  app.patch(
    '/api/developers/keys/:id',
    {
      config: { auth: 'management' },
      schema: {
        ...about(tag, "Set a key's agent label (attribution in usage, audit and the request log)", 'management'),
        params: idParams,
        body: agentBody,
        response: { 200: keyAnswer },
      },
    },
    async (req) => ({ key: ctx.keys.present(await ctx.keys.setAgent(actorOf(req), keyId(req.params), req.body.agent)) }),
  );
}
