import { KeywardError } from '@keyward/core';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { can } from '../../auth/authorization.js';
import type { WebhookDelivery } from '../../entities.js';
import { WEBHOOK_EVENTS } from '../../webhooks/webhook-service.js';
import type { AppContext } from '../context.js';
import { html, type SafeHtml } from '../html.js';
import { csrfField, errorPanel, type Form, formAction, pageFrom, pager, type SignedIn, signedIn, when } from './page-context.js';

const CURRENT = '/dashboard/webhooks';

/** What registering a webhook leaves to be shown once: its signing secret. */
interface NewWebhookSecret {
  url: string;
  secret: string;
}

function deliveryRows(page: SignedIn, deliveries: WebhookDelivery[]): SafeHtml {
  if (deliveries.length === 0) return html`<p class="muted">No deliveries yet. Send a test event to try the receiver.</p>`;
  return html`<div class="table-wrap"><table><thead><tr><th scope="col">Queued</th><th scope="col">Event</th><th scope="col">Status</th><th scope="col">Tries</th><th scope="col">Last answer</th><th scope="col">Next try</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead><tbody>
${deliveries.map((d) => {
  const last = d.attempts.at(-1);
  const badge = d.status === 'delivered' ? 'active' : d.status === 'failed' ? 'revoked' : 'expired';
  return html`<tr><td><time>${when(d.createdAt)}</time></td><td class="mono">${d.eventType}<div class="hint">${d.id}</div></td><td><span class="badge ${badge}">${d.status}</span></td><td>${d.attempts.length}</td>
<td>${last ? html`${last.status ?? 'no answer'}${last.error && last.status === null ? html`<div class="hint">${last.error}</div>` : ''}` : '—'}</td><td>${d.status === 'pending' ? when(d.nextAttemptAt) : '—'}</td>
<td><form method="post" action="${CURRENT}/deliveries/${d.id}/retry">${csrfField(page)}<button type="submit" class="secondary small">Send again</button></form></td></tr>`;
})}</tbody></table></div>`;
}

/** Webhooks in the dashboard (admins): register with the secret shown once, the delivery log, send again, test. */
export function webhookPages(app: FastifyInstance, ctx: AppContext): void {
  async function listPage(reply: FastifyReply, page: SignedIn, top?: SafeHtml, status = 200) {
    if (!can(page.actor, 'webhook.manage').allowed) {
      return page.render(reply, {
        title: 'Webhooks',
        current: CURRENT,
        status: 403,
        body: html`<h1>Webhooks</h1><div class="card"><p>Only admins manage webhooks. Ask an admin of your organization.</p></div>`,
      });
    }
    const hooks = await ctx.webhooks.list(page.actor);
    const rows = hooks.map(
      (
        w,
      ) => html`<tr><td class="mono"><a href="${CURRENT}/${w.id}">${w.url}</a></td><td>${w.events.length ? w.events.join(', ') : 'all events'}</td><td><time>${when(w.createdAt)}</time></td>
<td><div class="row-actions"><form method="post" action="${CURRENT}/${w.id}/test">${csrfField(page)}<button type="submit" class="secondary small">Send test event</button></form>
<form method="post" action="${CURRENT}/${w.id}/delete" data-confirm="Delete the webhook to ${w.url}? Its delivery log goes too.">${csrfField(page)}<button type="submit" class="danger small">Delete</button></form></div></td></tr>`,
    );
    const body = html`<h1>Webhooks</h1><p class="lead">Events are sent as <a href="https://www.standardwebhooks.com/">Standard Webhooks</a>, signed with each webhook's secret, and retried for about a day.</p>${top ?? ''}
<section class="card"><h2>Endpoints</h2>${hooks.length === 0 ? html`<p class="muted">No webhooks yet.</p>` : html`<div class="table-wrap"><table><thead><tr><th scope="col">URL</th><th scope="col">Events</th><th scope="col">Added</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead><tbody>${rows}</tbody></table></div>`}</section>
<section class="card" aria-labelledby="add-h"><h2 id="add-h">Add a webhook</h2><form method="post" action="${CURRENT}">${csrfField(page)}
<label for="hook-url">URL</label><input id="hook-url" name="url" type="url" required placeholder="https://example.com/hooks/keyward">
<fieldset><legend>Events (none checked: all)</legend>${WEBHOOK_EVENTS.map((e) => html`<label class="radio"><input type="checkbox" name="event:${e}" value="on"><span class="mono">${e}</span></label>`)}</fieldset>
<div class="actions"><button type="submit">Add webhook</button></div></form></section>`;
    return page.render(reply, { title: 'Webhooks', current: CURRENT, body, status });
  }

  const failed = (page: SignedIn, reply: FastifyReply, error: unknown) => {
    if (error instanceof KeywardError && error.status < 500) return errorPanel(page, reply, error, CURRENT, CURRENT);
    throw error;
  };

  app.get(CURRENT, async (req, reply) => {
    const page = await signedIn(ctx, req, reply);
    if (!page) return reply;
    const made = await ctx.forms.reveal<NewWebhookSecret>(page.session.sessionId, (req.query as Form).shown);
    if (made) reply.header('cache-control', 'no-store');
    const top = made
      ? html`<section class="card"><h2>Signing secret for ${made.url}</h2><div class="notice">Copy it now: it is shown only once. Your receiver verifies every delivery with it.</div>
<div class="secret"><label class="sr-only" for="hook-secret">Signing secret</label><input id="hook-secret" class="mono" readonly value="${made.secret}"><button type="button" data-copy="hook-secret">Copy</button></div></section>`
      : undefined;
    return listPage(reply, page, top);
  });

  app.get(`${CURRENT}/:id`, async (req, reply) => {
    const page = await signedIn(ctx, req, reply);
    if (!page) return reply;
    const id = (req.params as { id: string }).id;
    try {
      const hook = await ctx.webhooks.get(page.actor, id);
      const from = pageFrom(req.query);
      const { items, next } = await ctx.webhooks.deliveries(page.actor, id, from);
      const body = html`<p><a href="${CURRENT}">← Webhooks</a></p><h1 class="mono">${hook.url}</h1><p class="lead">${hook.events.length ? hook.events.join(', ') : 'All events'} · added ${when(hook.createdAt)}</p>
<section class="card"><h2>Deliveries</h2>${deliveryRows(page, items)}${pager(`${CURRENT}/${id}`, {}, next, Boolean(from.after))}</section>`;
      return page.render(reply, { title: 'Webhook deliveries', current: CURRENT, body });
    } catch (error) {
      return failed(page, reply, error);
    }
  });

  app.post(CURRENT, async (req, reply) => {
    const page = await signedIn(ctx, req, reply);
    if (!page) return reply;
    try {
      return await formAction<NewWebhookSecret>(ctx, req, reply, page, CURRENT, async () => {
        // One checkbox per event, each its own field (a form field given twice keeps only its last value).
        const form = (req.body ?? {}) as Form;
        const events = WEBHOOK_EVENTS.filter((e) => form[`event:${e}`] === 'on');
        const url = String(form.url ?? '').trim();
        const { secret } = await ctx.webhooks.create(page.actor, { url, events });
        return { location: CURRENT, secret: { url, secret } };
      });
    } catch (error) {
      if (error instanceof KeywardError && error.status < 500)
        return listPage(reply, page, html`<div class="error" role="alert">${error.message}</div>`, error.status);
      throw error;
    }
  });

  for (const [action, run] of [
    ['test', (page: SignedIn, id: string) => ctx.webhooks.sendTest(page.actor, id).then((d) => `${CURRENT}/${d.webhookId}`)],
    ['delete', (page: SignedIn, id: string) => ctx.webhooks.remove(page.actor, id).then(() => CURRENT)],
  ] as const) {
    app.post(`${CURRENT}/:id/${action}`, async (req, reply) => {
      const page = await signedIn(ctx, req, reply);
      if (!page) return reply;
      const id = (req.params as { id: string }).id;
      try {
        return await formAction(ctx, req, reply, page, CURRENT, async () => ({ location: await run(page, id) }));
      } catch (error) {
        return failed(page, reply, error);
      }
    });
  }

  app.post(`${CURRENT}/deliveries/:id/retry`, async (req, reply) => {
    const page = await signedIn(ctx, req, reply);
    if (!page) return reply;
    const id = (req.params as { id: string }).id;
    try {
      return await formAction(ctx, req, reply, page, CURRENT, async () => {
        const d = await ctx.webhooks.redeliver(page.actor, id);
        return { location: `${CURRENT}/${d.webhookId}` };
      });
    } catch (error) {
      return failed(page, reply, error);
    }
  });
}
