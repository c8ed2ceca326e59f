import type { Webhook, WebhookDelivery } from '../../entities.js';
import { type AppContext, about, actorOf, type ZodApp } from '../context.js';
import { createdWebhookAnswer, deliveryAnswer, deliveryListAnswer, webhookListAnswer } from '../responses.js';
import { idParams, pageQuery, pageRequestOf, webhookBody } from '../schemas.js';

const iso = (ms: number) => new Date(ms).toISOString();

export function presentWebhook(w: Webhook) {
  return { id: w.id, url: w.url, events: w.events, created_at: iso(w.createdAt) };
}

export function presentDelivery(d: WebhookDelivery) {
  return {
    id: d.id,
    webhook_id: d.webhookId,
    event_type: d.eventType,
    status: d.status,
    created_at: iso(d.createdAt),
    next_attempt_at: d.status === 'pending' && d.nextAttemptAt !== null ? iso(d.nextAttemptAt) : null,
    attempts: d.attempts.map((a) => ({ at: iso(a.at), status: a.status, error: a.error, ms: a.ms })),
    payload: JSON.parse(d.payload) as unknown,
  };
}

/** Webhooks (admins): register, list, delete, the delivery log, send again, a test event. */
export function webhookRoutes(app: ZodApp, ctx: AppContext): void {
  const tag = 'webhooks';
  const config = { auth: 'management' } as const;

  app.post(
    '/api/webhooks',
    {
      config,
      schema: {
        ...about(tag, 'Register a webhook (admins); the answer has its whsec_ signing secret, shown once', 'management'),
        body: webhookBody,
        response: { 201: createdWebhookAnswer },
      },
    },
    async (req, reply) => {
      const { webhook, secret } = await ctx.webhooks.create(actorOf(req), req.body);
      return reply.code(201).send({ webhook: presentWebhook(webhook), secret });
    },
  );

  app.get(
    '/api/webhooks',
    { config, schema: { ...about(tag, "The organization's webhooks (admins)", 'management'), response: { 200: webhookListAnswer } } },
    async (req) => ({ webhooks: (await ctx.webhooks.list(actorOf(req))).map(presentWebhook) }),
  );

  app.delete(
    '/api/webhooks/:id',
    { config, schema: { ...about(tag, 'Delete a webhook and its delivery log (admins)', 'management'), params: idParams } },
    async (req, reply) => {
      await ctx.webhooks.remove(actorOf(req), req.params.id);
      return reply.code(204).send();
    },
  );

  app.get(
    '/api/webhooks/:id/deliveries',
    {
      config,
      schema: {
        ...about(tag, "A webhook's deliveries, newest first, each with its tries (admins)", 'management'),
        params: idParams,
        querystring: pageQuery,
        response: { 200: deliveryListAnswer },
      },
    },
    async (req) => {
      const page = await ctx.webhooks.deliveries(actorOf(req), req.params.id, pageRequestOf(req.query));
      return { deliveries: page.items.map(presentDelivery), next_cursor: page.next };
    },
  );

  app.post(
    '/api/webhooks/:id/test',
    {
      config,
      schema: {
        ...about(tag, 'Send a webhook.test event to this webhook (admins)', 'management'),
        params: idParams,
        response: { 202: deliveryAnswer },
      },
    },
    async (req, reply) => reply.code(202).send({ delivery: presentDelivery(await ctx.webhooks.sendTest(actorOf(req), req.params.id)) }),
  );

  app.post(
    '/api/webhooks/deliveries/:id/retry',
    {
      config,
      schema: {
        ...about(tag, 'Send a delivery again now, with the same webhook-id (admins)', 'management'),
        params: idParams,
        response: { 202: deliveryAnswer },
      },
    },
    async (req, reply) => reply.code(202).send({ delivery: presentDelivery(await ctx.webhooks.redeliver(actorOf(req), req.params.id)) }),
  );
}
