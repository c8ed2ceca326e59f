import { KeywardError, parseCidr, SCOPE_DESCRIPTIONS, SCOPES, type Scope } from '@keyward/core';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { keyNameProblem } from '../../keys/key-name.js';
import { DEFAULT_GRACE_SECONDS, presentKey } from '../../keys/key-service.js';
import type { ApiKey } from '../../storage/store.js';
import type { AppContext } from '../context.js';
import { html, type SafeHtml } from '../html.js';
import { checkForm, csrfField, errorPanel, type Form, type SignedIn, signedIn, when } from './page-context.js';

const CURRENT = '/dashboard/keys';

function statusBadge(key: ApiKey, now: number): SafeHtml {
  const s = presentKey(key, now).status;
  const grace = s === 'active' && key.rotatedTo !== null && key.expiresAt !== null;
  return html`<span class="badge ${s}">${grace ? 'active (rotating)' : s}</span>`;
}

/** Only writers and admins get create, rotate and revoke controls in the dashboard; readers browse. */
const canManage = (page: SignedIn, key?: ApiKey) =>
  page.actor.role === 'admin' || (page.actor.role === 'write' && (!key || key.createdBy === page.actor.userId));

function createForm(ctx: AppContext, page: SignedIn, environment: string, error?: string, values: Form = {}): SafeHtml {
  const plans = ctx.config.planOrder.slice(0, ctx.config.planOrder.indexOf(page.session.organization.plan) + 1);
  return html`<section class="card" aria-labelledby="create-h"><h2 id="create-h">Create API key</h2>
${error ? html`<div class="error" role="alert">${error}</div>` : ''}
<form method="post" action="/dashboard/keys">${csrfField(page)}
<label for="name">Name</label><input id="name" name="name" required maxlength="100" placeholder="production-agent" value="${values.name ?? ''}">
<div class="hint">Say what it is for: "production-agent" or "ci-pipeline" is clearer than "key1".</div>
<fieldset><legend>Scope</legend>${SCOPES.map(
    (s) =>
      html`<label class="radio"><input type="radio" name="scope" value="${s}"${(values.scope ?? 'agentic') === s ? html` checked` : ''}><span><strong>${s}</strong> — ${SCOPE_DESCRIPTIONS[s]}</span></label>`,
  )}</fieldset>
<div class="grid">
<div><label for="environment">Environment</label><select id="environment" name="environment">${ctx.config.environments.map(
    (e) =>
      html`<option value="${e.name}"${e.name === (values.environment ?? environment) ? html` selected` : ''}>${e.name} (${e.prefix}…)</option>`,
  )}</select></div>
<div><label for="tier">Tier</label><select id="tier" name="tier">${plans.map((p) => html`<option value="${p}"${p === page.session.organization.plan ? html` selected` : ''}>${p}</option>`)}</select></div>
<div><label for="expires">Expires (optional)</label><input id="expires" name="expires_at" type="date" value="${values.expires_at ?? ''}"></div>
</div>
<label for="ips">IP allowlist (optional)</label><input id="ips" name="ip_allowlist" placeholder="10.0.0.0/8, 2001:db8::/32" value="${values.ip_allowlist ?? ''}">
<div class="hint">Comma-separated IPv4/IPv6 addresses or CIDR ranges. Empty: any address.</div>
<div class="actions"><button type="submit">Create key</button></div></form></section>`;
}

/** A date for the list, with the full time in a tooltip. */
function day(ms: number | null, empty = '—'): SafeHtml | string {
  return ms === null
    ? empty
    : html`<time datetime="${new Date(ms).toISOString()}" title="${when(ms)}">${new Date(ms).toISOString().slice(0, 10)}</time>`;
}

function keyRows(page: SignedIn, keys: ApiKey[], now: number): SafeHtml {
  if (keys.length === 0) return html`<p class="muted">No keys in this environment yet.</p>`;
  return html`<table><thead><tr><th scope="col">Name</th><th scope="col">Key</th><th scope="col">Scope</th><th scope="col">Env</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col">Expires</th><th scope="col">Status</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead><tbody>
${keys.map((k) => {
  const active = presentKey(k, now).status === 'active';
  const actions =
    active && canManage(page, k)
      ? html`<div class="row-actions"><form method="post" action="/dashboard/keys/${k.id}/rotate" class="row-actions">${csrfField(page)}<label class="sr-only" for="g-${k.id}">Grace period for ${k.name}</label><select id="g-${k.id}" name="grace_period_seconds" class="compact">
<option value="0">old key: revoke now</option><option value="3600">old key: 1 hour</option><option value="${DEFAULT_GRACE_SECONDS}" selected>old key: 24 hours</option><option value="604800">old key: 7 days</option></select>
<button type="submit" class="secondary small">Rotate</button></form>
<form method="post" action="/dashboard/keys/${k.id}/revoke" data-confirm="Revoke ${k.name}? Requests with it will fail at once. This cannot be undone.">${csrfField(page)}<button type="submit" class="danger small">Revoke</button></form></div>`
      : '';
  return html`<tr><td><a href="/dashboard/keys/${k.id}">${k.name}</a></td><td class="mono">${k.prefix}…${k.last4}</td><td>${k.scope}</td><td>${k.environment}</td>
<td>${day(k.createdAt)}</td><td>${day(k.lastUsedAt, 'never')}</td><td>${day(k.expiresAt, 'never')}</td><td>${statusBadge(k, now)}</td><td>${actions}</td></tr>`;
})}</tbody></table>`;
}

function revealed(key: ApiKey, raw: string, heading: string, note?: SafeHtml): SafeHtml {
  return html`<section class="card" aria-labelledby="new-h"><h2 id="new-h">${heading}</h2>
<div class="notice" role="status"><strong>Copy this key now.</strong> It is shown only once: keyward keeps only a hash of it. If you lose it, create a new one.</div>
<div class="secret"><label class="sr-only" for="raw-key">API key ${key.name}</label><input id="raw-key" class="mono" readonly value="${raw}" aria-describedby="new-h">
<button type="button" data-copy="raw-key">Copy</button></div>
${note ?? ''}<p class="hint">Use it as <code>Authorization: Bearer ${key.prefix}…</code>. <a href="/dashboard/keys?environment=${key.environment}">Done, back to the list</a></p></section>`;
}

export function keysPages(app: FastifyInstance, ctx: AppContext): void {
  const environmentOf = (wanted: string | undefined) =>
    ctx.config.environments.some((e) => e.name === wanted) ? (wanted as string) : (ctx.config.environments[0]?.name ?? 'test');

  async function listPage(
    reply: FastifyReply,
    page: SignedIn,
    environment: string,
    extra?: { top?: SafeHtml; error?: string; values?: Form },
  ) {
    const keys = await ctx.keys.list(page.actor, { environment });
    const now = ctx.clock.now();
    const tabs = html`<nav class="tabs" aria-label="Environment">${ctx.config.environments.map(
      (e) => html`<a href="/dashboard/keys?environment=${e.name}"${e.name === environment ? html` aria-current="page"` : ''}>${e.name}</a>`,
    )}</nav>`;
    const body = html`<h1>API keys</h1><p class="lead">Keys authenticate requests as <code>Authorization: Bearer &lt;key&gt;</code>. Each belongs to one environment.</p>
${extra?.top ?? ''}${tabs}
<section class="card" aria-labelledby="list-h"><h2 id="list-h">${environment} keys</h2>${keyRows(page, keys, now)}</section>
${page.actor.role === 'read' ? html`<p class="muted">Your role is read: you can see keys but not create, rotate or revoke them here.</p>` : createForm(ctx, page, environment, extra?.error, extra?.values)}`;
    return page.render(reply, { title: 'API keys', current: CURRENT, body, status: extra?.error ? 400 : 200 });
  }

  app.get('/dashboard/keys', async (req, reply) => {
    const page = await signedIn(ctx, req, reply);
    return page ? listPage(reply, page, environmentOf((req.query as Form).environment)) : reply;
  });
  for (const alias of ['/keys', '/settings/api-keys']) app.get(alias, (_req, reply) => reply.redirect(CURRENT, 303));

  app.post('/dashboard/keys', async (req, reply) => {
    const page = await signedIn(ctx, req, reply);
    if (!page) return reply;
    const form = checkForm(ctx, req, page);
    if (!canManage(page)) throw new KeywardError('forbidden', 'Your role (read) cannot create keys in the dashboard.');
    const ips = (form.ip_allowlist ?? '').split(/[\s,]+/).filter(Boolean);
    const fail = (message: string) => listPage(reply, page, environmentOf(form.environment), { error: message, values: form });
    const bad = ips.find((ip) => !parseCidr(ip));
    if (bad) return fail(`"${bad}" is not an IP address or CIDR range.`);
    const name = (form.name ?? '').trim();
    const nameProblem = keyNameProblem(name);
    if (nameProblem) return fail(`The key's ${nameProblem}.`);
    const expiresAt = form.expires_at ? Date.parse(`${form.expires_at}T23:59:59Z`) : null;
    if (form.expires_at && Number.isNaN(expiresAt)) return fail('The expiry date is not a date.');
    try {
      const { key, rawKey } = await ctx.keys.create(page.actor, {
        name,
        ...(SCOPES.includes(form.scope as Scope) ? { scope: form.scope as Scope } : {}),
        ...(form.environment ? { environment: form.environment } : {}),
        ...(form.tier ? { tier: form.tier } : {}),
        expiresAt,
        ipAllowlist: ips,
      });
      const top = revealed(key, rawKey, `Your new key “${key.name}”`);
      return listPage(reply, page, key.environment, { top });
    } catch (error) {
      if (error instanceof KeywardError) return fail(error.message);
      throw error;
    }
  });

  app.post('/dashboard/keys/:id/revoke', async (req, reply) => {
    const page = await signedIn(ctx, req, reply);
    if (!page) return reply;
    checkForm(ctx, req, page);
    const id = (req.params as { id: string }).id;
    try {
      const key = await ctx.keys.get(page.actor, id);
      if (!canManage(page, key))
        throw new KeywardError('forbidden', 'Only admins and the key’s creator (with write access) can revoke it.');
      await ctx.keys.revoke(page.actor, id);
      return reply.redirect(`/dashboard/keys?environment=${encodeURIComponent(key.environment)}`, 303);
    } catch (error) {
      if (error instanceof KeywardError) return errorPanel(page, reply, error, CURRENT, CURRENT);
      throw error;
    }
  });

  app.post('/dashboard/keys/:id/rotate', async (req, reply) => {
    const page = await signedIn(ctx, req, reply);
    if (!page) return reply;
    const form = checkForm(ctx, req, page);
    const id = (req.params as { id: string }).id;
    const grace = Number(form.grace_period_seconds ?? DEFAULT_GRACE_SECONDS);
    try {
      if (!Number.isInteger(grace) || grace < 0 || grace > 30 * 86_400)
        throw new KeywardError('invalid_request', 'The grace period must be between 0 seconds and 30 days.');
      const old = await ctx.keys.get(page.actor, id);
      if (!canManage(page, old))
        throw new KeywardError('forbidden', 'Only admins and the key’s creator (with write access) can rotate it.');
      const { key, rawKey, previous } = await ctx.keys.rotate(page.actor, id, grace);
      const note = html`<p>${grace === 0 ? html`The old key <span class="mono">${previous.prefix}…${previous.last4}</span> is revoked.` : html`The old key <span class="mono">${previous.prefix}…${previous.last4}</span> keeps working until ${when(previous.expiresAt)}: move your integration over before then.`}</p>`;
      return listPage(reply, page, key.environment, { top: revealed(key, rawKey, `Rotated “${key.name}”`, note) });
    } catch (error) {
      if (error instanceof KeywardError) return errorPanel(page, reply, error, CURRENT, CURRENT);
      throw error;
    }
  });
}
