import { headsLineage, KeywardError, SCOPE_DESCRIPTIONS, SCOPES, type ServedEnvironments } from '@keyward/core';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { scopeForNewKey, scopesOfNewKeys } from '../../auth/authorization.js';
import type { ApiKey } from '../../entities.js';
import { DEFAULT_GRACE_SECONDS, presentKey } from '../../keys/key-service.js';
import type { PageRequest } from '../../pagination.js';
import type { AppContext } from '../context.js';
import { parse } from '../errors.js';
import { html, type SafeHtml } from '../html.js';
import { createKeyBody, rotateKeyBody, toCreateKeyInput } from '../schemas.js';
import { csrfField, errorPanel, type Form, formAction, pageFrom, pager, type SignedIn, signedIn, when } from './page-context.js';

/** What a create or rotate leaves to be shown once on the page it redirects to. */
interface NewKeySecret {
  keyId: string;
  raw: string;
  rotated: boolean;
}

/** The create form as the API's body, so that one schema checks both. A date-only expiry means the end of that day, UTC. */
function createBodyOf(form: Form): Record<string, unknown> {
  const ips = (form.ip_allowlist ?? '').split(/[\s,]+/).filter(Boolean);
  const expires = form.expires_at?.trim();
  return {
    name: form.name ?? '',
    ...(form.scope ? { scope: form.scope } : {}),
    ...(form.environment ? { environment: form.environment } : {}),
    ...(form.tier ? { tier: form.tier } : {}),
    // A plain date means 00:00 UTC that day, as in the API and the CLI; the form says so.
    ...(expires ? { expires_at: expires } : {}),
    ...(ips.length > 0 ? { ip_allowlist: ips } : {}),
    ...(form.agent?.trim() ? { agent: form.agent } : {}),
    // A whole number becomes one; anything else goes on as written, for the schema to refuse by name.
    ...(form.budget?.trim() ? { budget: /^\d{1,13}$/.test(form.budget.trim()) ? Number(form.budget.trim()) : form.budget } : {}),
  };
}

const CURRENT = '/dashboard/keys';

function statusBadge(key: ApiKey, now: number, served: ServedEnvironments): SafeHtml {
  const s = presentKey(key, now, served).status;
  const grace = s === 'active' && key.rotatedTo !== null && key.expiresAt !== null;
  return html`<span class="badge ${s}">${grace ? 'active (rotating)' : s}</span>`;
}

/** A refused create: its message, and the field it is about (from `error.field`, or the scope a role caps). */
interface FormError {
  message: string;
  field?: string;
}

function formErrorOf(error: KeywardError): FormError {
  const field = error.details.field ?? (error.details.allowed_scope ? 'scope' : undefined);
  return { message: error.message, ...(field ? { field } : {}) };
}

function createForm(ctx: AppContext, page: SignedIn, environment: string, error?: FormError, values: Form = {}): SafeHtml {
  const plans = ctx.config.planOrder.slice(0, ctx.config.planOrder.indexOf(page.session.organization.plan) + 1);
  // The field a refusal is about is marked (aria-invalid) and says why beside it; the banner says it too.
  const mark = (field: string) => (error?.field === field ? html` aria-invalid="true" aria-errormessage="${field}-error"` : '');
  const says = (field: string) => (error?.field === field ? html`<div class="field-error" id="${field}-error">${error.message}</div>` : '');
  const scopes = scopesOfNewKeys(page.actor, environment);
  return html`<section class="card" aria-labelledby="create-h"><h2 id="create-h">Create API key</h2>
${error ? html`<div class="error" role="alert">${error.message}</div>` : ''}
<form method="post" action="/dashboard/keys">${csrfField(page)}
<label for="name">Name</label><input id="name" name="name" required maxlength="100" placeholder="production-agent" value="${values.name ?? ''}"${mark('name')}>${says('name')}
<div class="hint">Say what it is for: "production-agent" or "ci-pipeline" is clearer than "key1".</div>
<fieldset${mark('scope')}><legend>Scope</legend>${says('scope')}${scopes.map(
    (s) =>
      html`<label class="radio"><input type="radio" name="scope" value="${s}"${(values.scope ?? scopeForNewKey(page.actor)) === s ? html` checked` : ''}><span><strong>${s}</strong> — ${SCOPE_DESCRIPTIONS[s]}</span></label>`,
  )}</fieldset>${scopes.length < SCOPES.length ? html`<div class="hint">Your role is ${page.actor.role}: your keys can do at most what you can.</div>` : ''}
<div class="grid">
<div><label for="environment">Environment</label><select id="environment" name="environment"${mark('environment')}>${ctx.environments.served.map(
    (e) =>
      html`<option value="${e.name}"${e.name === (values.environment ?? environment) ? html` selected` : ''}>${e.name} (${e.prefix}…)</option>`,
  )}</select>${says('environment')}</div>
<div><label for="tier">Tier</label><select id="tier" name="tier"${mark('tier')}>${plans.map((p) => html`<option value="${p}"${p === page.session.organization.plan ? html` selected` : ''}>${p}</option>`)}</select>${says('tier')}</div>
<div><label for="expires">Expires (optional)</label><input id="expires" name="expires_at" type="date" aria-describedby="expires-hint" value="${values.expires_at ?? ''}"${mark('expires_at')}>${says('expires_at')}<div class="hint" id="expires-hint">The key stops working at 00:00 UTC on that day.</div></div>
</div>
<label for="ips">IP allowlist (optional)</label><input id="ips" name="ip_allowlist" placeholder="10.0.0.0/8, 2001:db8::/32" value="${values.ip_allowlist ?? ''}"${mark('ip_allowlist')}>${says('ip_allowlist')}
<div class="hint">Comma-separated IPv4/IPv6 addresses or CIDR ranges. Empty: any address.</div>
<div class="grid">
<div><label for="agent">Agent (optional)</label><input id="agent" name="agent" maxlength="100" placeholder="billing-agent" aria-describedby="agent-hint" value="${values.agent ?? ''}"${mark('agent')}>${says('agent')}<div class="hint" id="agent-hint">Who the key is for: usage and the audit log filter by it.</div></div>
<div><label for="budget">Credit budget (optional)</label><input id="budget" name="budget" inputmode="numeric" pattern="[0-9]*" placeholder="10000" aria-describedby="budget-hint" value="${values.budget ?? ''}"${mark('budget')}>${says('budget')}<div class="hint" id="budget-hint">Credits the key and the keys derived from it may spend in all (1 per request unless the API says more). Empty: none.</div></div>
</div>
<div class="actions"><button type="submit">Create key</button></div></form></section>`;
}

/** A date for the list, with the full time in a tooltip. */
function day(ms: number | null, empty = '—'): SafeHtml | string {
  return ms === null
    ? empty
    : html`<time datetime="${new Date(ms).toISOString()}" title="${when(ms)}">${new Date(ms).toISOString().slice(0, 10)}</time>`;
}

/** A rotated key and its successor point at each other, so that two rows of one name read as one lineage. */
function lineage(key: ApiKey, onPage: Map<string, ApiKey>): SafeHtml | '' {
  const link = (id: string, words: string) => {
    const other = onPage.get(id);
    return html`<div class="hint">${words} <a href="/dashboard/keys/${id}">${other ? `${other.prefix}…${other.last4}` : 'another key'}</a></div>`;
  };
  if (key.rotatedTo) return link(key.rotatedTo, 'rotated to');
  if (key.rotatedFrom) return link(key.rotatedFrom, 'replaces');
  return '';
}

/**
 * Rotate (with its grace period) and Revoke for one key, as the key list and the key's own page show them: the same
 * forms, posted to the same handlers below, each with the CSRF field and a one-time form token. Rotate only for the
 * key that heads its lineage (core's `headsLineage`): a key whose successor stands is rotated through the successor.
 */
export function keyActions(page: SignedIn, k: ApiKey, headsItsLineage: boolean): SafeHtml {
  const rotate = headsItsLineage
    ? html`<form method="post" action="/dashboard/keys/${k.id}/rotate" class="row-actions" data-confirm-revoke-now="Rotate ${k.name} and revoke the old key now? Requests with the old key will fail at once.">${csrfField(page)}<label class="sr-only" for="g-${k.id}">Grace period for ${k.name}</label><select id="g-${k.id}" name="grace_period_seconds" class="compact">
<option value="0">old key: revoke now</option><option value="3600">old key: 1 hour</option><option value="${DEFAULT_GRACE_SECONDS}" selected>old key: 24 hours</option><option value="604800">old key: 7 days</option></select>
<button type="submit" class="secondary small">Rotate</button></form>`
    : '';
  return html`<div class="row-actions">${rotate}
<form method="post" action="/dashboard/keys/${k.id}/revoke" data-confirm="Revoke ${k.name}? Requests with it will fail at once. This cannot be undone.">${csrfField(page)}<button type="submit" class="danger small">Revoke</button></form></div>`;
}

function keyRows(ctx: AppContext, page: SignedIn, keys: ApiKey[], now: number): SafeHtml {
  if (keys.length === 0) return html`<p class="muted">No keys in this environment yet.</p>`;
  const onPage = new Map(keys.map((k) => [k.id, k]));
  return html`<div class="table-wrap"><table class="keys"><thead><tr><th scope="col">Name</th><th scope="col">Key</th><th scope="col">Scope</th><th scope="col">Env</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col">Expires</th><th scope="col">Status</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead><tbody>
${keys.map((k) => {
  const active = presentKey(k, now, ctx.environments).status === 'active';
  // A successor not on this page is taken as standing: its own page tells.
  const heads = headsLineage(k, k.rotatedTo ? onPage.get(k.rotatedTo) : undefined, now, ctx.environments);
  const actions = active && ctx.keys.mayManage(page.actor, k) ? keyActions(page, k, heads) : '';
  const derived = k.parentId
    ? html`<div class="hint">derived from <a href="/dashboard/keys/${k.parentId}">${onPage.get(k.parentId)?.name ?? 'a key'}</a></div>`
    : '';
  const agent = k.agent ? html`<div class="hint">agent ${k.agent}</div>` : '';
  const imported = k.importedFrom
    ? html`<div class="hint">imported from ${k.importedFrom}${k.rotatedTo || k.importedFrom === 'keyward' ? '' : ' — rotate it for a keyward key'}</div>`
    : '';
  return html`<tr><td class="name"><a href="/dashboard/keys/${k.id}">${k.name}</a>${lineage(k, onPage)}${derived}${agent}${imported}</td><td class="mono">${k.prefix}…${k.last4}</td><td>${k.scope}</td><td>${k.environment}</td>
<td>${day(k.createdAt)}</td><td>${day(k.lastUsedAt, 'never')}</td><td>${day(k.expiresAt, 'never')}</td><td>${statusBadge(k, now, ctx.environments)}</td><td class="actions-cell">${actions}</td></tr>`;
})}</tbody></table></div>`;
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
    ctx.environments.known(wanted ?? '') ? (wanted as string) : (ctx.environments.default?.name ?? 'test');

  async function listPage(
    reply: FastifyReply,
    page: SignedIn,
    environment: string,
    extra?: { top?: SafeHtml; error?: FormError; values?: Form; status?: number; from?: PageRequest },
  ) {
    const from = extra?.from ?? pageFrom({});
    const { items: keys, next } = await ctx.keys.list(page.actor, { environment }, from);
    const now = ctx.clock.now();
    const retired = ctx.environments.retiredNames;
    const isRetired = retired.includes(environment);
    const tabs = html`<nav class="tabs" aria-label="Environment">${[...ctx.environments.served.map((e) => e.name), ...retired].map(
      (name) =>
        html`<a href="/dashboard/keys?environment=${name}"${name === environment ? html` aria-current="page"` : ''}>${name}${retired.includes(name) ? ' (retired)' : ''}</a>`,
    )}</nav>`;
    const notice =
      retired.length > 0
        ? html`<div class="notice" role="status"><strong>Retired environment${retired.length > 1 ? 's' : ''}: ${retired.join(', ')}.</strong> This server no longer serves ${retired.length > 1 ? 'them' : 'it'}, so ${retired.length > 1 ? 'their' : 'its'} keys are refused (with a message that says so) and not counted towards your plan. Create keys in ${ctx.environments.names()} instead.</div>`
        : '';
    const body = html`<h1>API keys</h1><p class="lead">Keys authenticate requests as <code>Authorization: Bearer &lt;key&gt;</code>. Each belongs to one environment.</p>
${extra?.top ?? ''}${notice}${tabs}
<section class="card" aria-labelledby="list-h"><h2 id="list-h">${environment} keys${isRetired ? ' (retired environment)' : ''}</h2>${keyRows(ctx, page, keys, now)}${pager('/dashboard/keys', { environment }, next, Boolean(from.after))}</section>
${isRetired ? '' : createForm(ctx, page, environment, extra?.error, extra?.values)}`;
    if (extra?.top) reply.header('cache-control', 'no-store');
    return page.render(reply, { title: 'API keys', current: CURRENT, body, status: extra?.status ?? (extra?.error ? 400 : 200) });
  }

  /** The key a create or rotate just made, shown once from its sealed one-time value; a reload shows it no more. */
  async function justMade(page: SignedIn, shown: string | undefined): Promise<SafeHtml | undefined> {
    const made = await ctx.forms.reveal<NewKeySecret>(page.session.sessionId, shown);
    if (!made) return undefined;
    const key = await ctx.keys.get(page.actor, made.keyId);
    if (!made.rotated) return revealed(key, made.raw, `Your new key “${key.name}”`);
    const previous = key.rotatedFrom ? await ctx.keys.get(page.actor, key.rotatedFrom) : undefined;
    const note = previous
      ? html`<p>${previous.revokedAt !== null ? html`The old key <span class="mono">${previous.prefix}…${previous.last4}</span> is revoked.` : html`The old key <span class="mono">${previous.prefix}…${previous.last4}</span> keeps working until ${when(previous.expiresAt)}: move your integration over before then.`}</p>`
      : undefined;
    return revealed(key, made.raw, `Rotated “${key.name}”`, note);
  }

  /** After a revoke: which key, and that it no longer works. Only a key of the viewer's organization, revoked. */
  async function revokedNotice(page: SignedIn, id: string | undefined): Promise<SafeHtml | undefined> {
    if (!id) return undefined;
    const key = await ctx.keys.get(page.actor, id).catch(() => undefined);
    if (!key || key.revokedAt === null) return undefined;
    return html`<div class="success" role="status">Revoked “${key.name}” (<span class="mono">${key.prefix}…${key.last4}</span>). Requests with it now answer 401 on every instance.</div>`;
  }

  app.get('/dashboard/keys', async (req, reply) => {
    const page = await signedIn(ctx, req, reply);
    if (!page) return reply;
    const query = req.query as Form;
    const top = (await justMade(page, query.shown)) ?? (await revokedNotice(page, query.revoked));
    return listPage(reply, page, environmentOf(query.environment), { ...(top ? { top } : {}), from: pageFrom(query) });
  });
  for (const alias of ['/keys', '/settings/api-keys']) app.get(alias, (_req, reply) => reply.redirect(CURRENT, 303));

  const listOf = (environment: string) => `/dashboard/keys?environment=${encodeURIComponent(environment)}`;

  app.post('/dashboard/keys', async (req, reply) => {
    const page = await signedIn(ctx, req, reply);
    if (!page) return reply;
    const form = (req.body ?? {}) as Form;
    try {
      return await formAction<NewKeySecret>(ctx, req, reply, page, CURRENT, async () => {
        const { key, rawKey } = await ctx.keys.create(page.actor, toCreateKeyInput(parse(createKeyBody, createBodyOf(form))));
        return { location: listOf(key.environment), secret: { keyId: key.id, raw: rawKey, rotated: false } };
      });
    } catch (error) {
      if (error instanceof KeywardError && error.status < 500)
        return listPage(reply, page, environmentOf(form.environment), { error: formErrorOf(error), values: form, status: error.status });
      throw error;
    }
  });

  app.post('/dashboard/keys/:id/revoke', async (req, reply) => {
    const page = await signedIn(ctx, req, reply);
    if (!page) return reply;
    const id = (req.params as { id: string }).id;
    try {
      return await formAction(ctx, req, reply, page, CURRENT, async () => {
        const key = await ctx.keys.revoke(page.actor, id);
        return { location: `${listOf(key.environment)}&revoked=${encodeURIComponent(key.id)}` };
      });
    } catch (error) {
      if (error instanceof KeywardError && error.status < 500) return errorPanel(page, reply, error, CURRENT, CURRENT);
      throw error;
    }
  });

  app.post('/dashboard/keys/:id/rotate', async (req, reply) => {
    const page = await signedIn(ctx, req, reply);
    if (!page) return reply;
    const id = (req.params as { id: string }).id;
    try {
      return await formAction<NewKeySecret>(ctx, req, reply, page, CURRENT, async (form) => {
        const grace = /^\d{1,9}$/.test(form.grace_period_seconds ?? '') ? Number(form.grace_period_seconds) : form.grace_period_seconds;
        const body = parse(rotateKeyBody, form.grace_period_seconds === undefined ? {} : { grace_period_seconds: grace });
        const { key, rawKey } = await ctx.keys.rotate(page.actor, id, body.grace_period_seconds);
        return { location: listOf(key.environment), secret: { keyId: key.id, raw: rawKey, rotated: true } };
      });
    } catch (error) {
      if (error instanceof KeywardError && error.status < 500) return errorPanel(page, reply, error, CURRENT, CURRENT);
      throw error;
    }
  });
}
