import { isScope, KeywardError } from '@keyward/core';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ScopeRequestView } from '../../scope-requests/scope-request-service.js';
import type { AppContext } from '../context.js';
import { html, type SafeHtml } from '../html.js';
import { csrfField, errorPanel, formAction, type SignedIn, signedIn, when } from './page-context.js';

const CURRENT = '/dashboard/requests';

/** Lifetimes an approver may give the new key, in seconds ('' = as the agent asked, else no expiry). */
const LIFETIMES: [string, string][] = [
  ['', 'as asked (no expiry when none was asked)'],
  ['3600', '1 hour'],
  ['86400', '1 day'],
  ['604800', '7 days'],
];

function timeLeft(ms: number): string {
  if (ms <= 0) return 'expired';
  const s = Math.ceil(ms / 1000);
  return s < 120 ? `${s} s` : `${Math.ceil(s / 60)} min`;
}

/** One request: who asks, with which key, from which scope to which, why, for what, how long it waits; then the decision. */
function requestCard(page: SignedIn, view: ScopeRequestView, now: number): SafeHtml {
  const { request: r, key } = view;
  const shownKey = key
    ? html`<a href="/dashboard/keys/${key.id}">${key.name}</a> <span class="mono">${key.prefix}…${key.last4}</span>`
    : html`<span class="muted">a key no longer in the organization</span>`;
  const state =
    r.status === 'pending' && r.expiresAt <= now
      ? html`<span class="badge expired">expired</span>`
      : r.status === 'pending'
        ? html`<span class="badge">waiting</span>`
        : r.status === 'denied'
          ? html`<span class="badge revoked">denied</span>`
          : html`<span class="badge active">approved</span>`;
  let decision: SafeHtml | '' = '';
  if (r.status === 'pending' && r.expiresAt > now) {
    if (view.mayApprove) {
      decision = html`<form method="post" action="${CURRENT}/${r.id}/decide" class="inline">${csrfField(page)}
<label for="scope-${r.id}">Grant scope</label> <select id="scope-${r.id}" name="scope">${view.grantable.map((s) => html`<option value="${s}"${s === r.scope ? html` selected` : ''}>${s}</option>`)}</select>
<label for="life-${r.id}">Key lifetime</label> <select id="life-${r.id}" name="expires_in">${LIFETIMES.map(([v, label]) => html`<option value="${v}">${label}</option>`)}</select>
<button type="submit" name="decision" value="approve">Approve</button> <button type="submit" name="decision" value="deny" class="danger">Deny</button></form>`;
    } else if (view.mayDeny) {
      decision = html`<p class="hint">Your role cannot grant ${r.scope}: an admin of the organization decides. You may withdraw it.</p><form method="post" action="${CURRENT}/${r.id}/decide" class="inline">${csrfField(page)}<button type="submit" name="decision" value="deny" class="danger">Deny</button></form>`;
    } else {
      decision = html`<p class="hint">Waiting for the person the key acts for, or an admin.</p>`;
    }
  } else if (r.status !== 'pending') {
    decision = html`<p class="hint">${r.status === 'denied' ? 'Denied' : `Approved at ${r.grantedScope ?? r.scope}`} ${when(r.decidedAt)}.${r.issuedKeyId ? html` The new key: <a href="/dashboard/keys/${r.issuedKeyId}">open it</a>.` : ''}</p>`;
  }
  return html`<article class="card" aria-labelledby="req-${r.id}"><h2 id="req-${r.id}">Agent ${r.agent ?? '(no label)'} asks for ${r.scope} ${state}</h2>
<blockquote class="lead">${r.reason}</blockquote>
<dl class="facts"><dt>Key</dt><dd>${shownKey} · ${r.environment}</dd><dt>Scope</dt><dd>${r.currentScope} → ${r.scope}</dd>${r.resource ? html`<dt>Resource</dt><dd class="mono">${r.resource}</dd>` : ''}${r.requestedExpiry ? html`<dt>Lifetime asked</dt><dd>${r.requestedExpiry} s</dd>` : ''}<dt>Asked</dt><dd>${when(r.createdAt)}</dd>${r.status === 'pending' ? html`<dt>Time left</dt><dd>${timeLeft(r.expiresAt - now)}</dd>` : ''}</dl>
<p><a href="${CURRENT}/${r.id}">Open this request</a></p>
${decision}</article>`;
}

/**
 * The Requests page: agents' scope requests waiting for a decision in the organization, each with Approve (at a
 * scope and lifetime the approver chooses, at most what was asked and their own role) and Deny; one request's page.
 */
export function requestsPages(app: FastifyInstance, ctx: AppContext): void {
  app.get(CURRENT, async (req, reply) => {
    const page = await signedIn(ctx, req, reply);
    if (!page) return reply;
    const query = req.query as { decided?: string };
    const views = await ctx.scopeRequests.pending(page.actor);
    const now = ctx.clock.now();
    let notice: SafeHtml | '' = '';
    if (query.decided) {
      const decided = await ctx.scopeRequests.get(page.actor, query.decided).catch(() => undefined);
      if (decided && decided.request.status !== 'pending')
        notice = html`<div class="success" role="status">${decided.request.status === 'denied' ? 'Denied' : 'Approved'}: “${decided.request.reason}”. The agent learns it at its next poll.</div>`;
    }
    const body = html`<h1>Requests</h1><p class="lead">Agents ask here for a wider scope than their key has, saying why. Approving makes a new key for the same agent and environment, made by you and never above your role; the agent's key goes on as it is.</p>
${notice}${views.length === 0 ? html`<section class="card"><p class="muted">No requests waiting. An agent asks with <code>keyward request-scope write --reason "…"</code> or <code>POST /api/oauth/bc-authorize</code>.</p></section>` : views.map((v) => requestCard(page, v, now))}`;
    return page.render(reply, { title: 'Requests', current: CURRENT, body });
  });

  app.get(`${CURRENT}/:id`, async (req, reply) => {
    const page = await signedIn(ctx, req, reply);
    if (!page) return reply;
    const view = await ctx.scopeRequests.get(page.actor, (req.params as { id: string }).id);
    const body = html`<p><a href="${CURRENT}">← Requests</a></p><h1>Scope request</h1>${requestCard(page, view, ctx.clock.now())}`;
    return page.render(reply, { title: 'Scope request', current: CURRENT, body });
  });

  app.post(`${CURRENT}/:id/decide`, async (req, reply): Promise<FastifyReply> => {
    const page = await signedIn(ctx, req, reply);
    if (!page) return reply;
    const id = (req.params as { id: string }).id;
    try {
      return await formAction(ctx, req, reply, page, CURRENT, async (form) => {
        if (form.decision !== 'approve' && form.decision !== 'deny')
          throw new KeywardError('invalid_request', 'decision must be approve or deny.', {}, { field: 'decision' });
        if (form.decision === 'deny') await ctx.scopeRequests.decide(page.actor, id, { approve: false });
        else {
          const scope = form.scope || undefined;
          if (scope !== undefined && !isScope(scope))
            throw new KeywardError('invalid_request', 'scope is not a scope.', {}, { field: 'scope' });
          const life = form.expires_in ? Number(form.expires_in) : undefined;
          if (life !== undefined && !(Number.isInteger(life) && life > 0))
            throw new KeywardError('invalid_request', 'expires_in must be a whole number of seconds.', {}, { field: 'expires_in' });
          await ctx.scopeRequests.decide(page.actor, id, { approve: true, scope, expiresInSeconds: life });
        }
        return { location: `${CURRENT}?decided=${encodeURIComponent(id)}` };
      });
    } catch (error) {
      if (error instanceof KeywardError && error.status < 500) return errorPanel(page, reply, error, CURRENT, CURRENT);
      throw error;
    }
  });
}
