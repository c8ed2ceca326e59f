import { dayOf, headsLineage, KeywardError, ROLES, type Role } from '@keyward/core';
import type { FastifyInstance } from 'fastify';
import { type Action, can } from '../../auth/authorization.js';
import type { AuditEvent, DailyUsage } from '../../entities.js';
import { presentKey } from '../../keys/key-service.js';
import type { KeyUsageSummary } from '../../usage/usage-service.js';
import type { AppContext } from '../context.js';
import { parse } from '../errors.js';
import { html, type SafeHtml } from '../html.js';
import { agentBody, inviteBody, keyIdParam, roleBody } from '../schemas.js';
import { keyActions } from './keys-pages.js';
import { csrfField, errorPanel, type Form, formAction, pageFrom, pager, type SignedIn, signedIn, when } from './page-context.js';

/** What an invitation leaves to be shown once on the members page it redirects to. */
interface InviteSecret {
  email: string;
  link: string;
}

const ROLE_TEXT: Record<Role, string> = {
  read: 'Sees keys, usage and the audit log; creates read keys (GET only) and rotates or revokes the keys they made.',
  write: 'Also creates keys that can write, and rotates or revokes the keys they made.',
  admin: 'Everything: every key of the organization, members and roles.',
};

/** A reported URL as a link only when it is http(s); anything else is shown as text and linked nowhere. */
function safeLink(url: string): string {
  return /^https?:\/\//i.test(url) ? url : '#';
}

/** Reporters keyward acts for on its own (the audit's `system` actors). */
const SYSTEM_ACTORS: Record<string, string> = {
  github: 'GitHub secret scanning',
  report: 'a public leak report',
  import: "the server's operator (an import)",
};

/** Who acted, in words: a person by name and e-mail, a key by name (acting for its creator), or keyward itself. */
function actorCell(e: AuditEvent, names: Map<string, string>): SafeHtml | string {
  if (e.actorType === 'system') return SYSTEM_ACTORS[e.actorId] ?? 'keyward';
  if (e.actorType === 'user') return names.get(`user:${e.actorId}`) ?? html`<span class="mono">${e.actorId}</span>`;
  const key = names.get(`key:${e.actorId}`) ?? e.actorId;
  const person = typeof e.data.on_behalf_of === 'string' ? names.get(`user:${e.data.on_behalf_of}`) : undefined;
  return html`key <a href="/dashboard/keys/${e.actorId}">${key}</a>${person ? html`<div class="hint">for ${person}</div>` : ''}`;
}

function auditTable(events: AuditEvent[], names: Map<string, string>): SafeHtml {
  if (events.length === 0) return html`<p class="muted">Nothing recorded yet.</p>`;
  // On a phone each event stacks as a card, every cell under its column's name (class "stack", labels from data-label).
  return html`<div class="table-wrap"><table class="stack"><thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">Who</th><th scope="col">Key</th><th scope="col">Details</th></tr></thead><tbody>
${events.map(
  (
    e,
  ) => html`<tr><td data-label="When"><time>${when(e.at)}</time></td><td data-label="What">${e.action}</td><td data-label="Who">${actorCell(e, names)}</td><td data-label="Key">${e.keyId ? html`<a href="/dashboard/keys/${e.keyId}">${names.get(`key:${e.keyId}`) ?? e.keyId}</a>` : '—'}</td>
<td class="mono" data-label="Details">${Object.entries(e.data)
    .filter(([k]) => k !== 'on_behalf_of')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ')}</td></tr>`,
)}</tbody></table></div>`;
}

/** The last 30 days as bars, empty days included. */
function chart(days: Omit<DailyUsage, 'keyId' | 'credits'>[], now: number): SafeHtml {
  const from = now - 29 * 86_400_000;
  const series: { day: string; allowed: number; denied: number }[] = [];
  for (let t = from; t <= now; t += 86_400_000) {
    const day = dayOf(t);
    const d = days.find((x) => x.day === day);
    series.push({ day, allowed: d?.allowed ?? 0, denied: d?.denied ?? 0 });
  }
  const max = Math.max(1, ...series.map((d) => d.allowed + d.denied));
  // Heights are whole percentages chosen from a fixed set of classes, so the CSP needs no inline styles.
  return html`<div class="chart" role="img" aria-label="Requests per day over the last 30 days">${series.map((d) => {
    const pct = (n: number) => Math.round((n / max) * 20) * 5;
    return html`<span class="h${pct(d.allowed + d.denied)}" title="${d.day}: ${d.allowed} allowed, ${d.denied} denied"></span>`;
  })}</div><div class="hint">${series[0]?.day} – ${series.at(-1)?.day}<span class="on-hover">; hover a bar for its numbers, or open them below</span>.</div>
${numbers(series)}`;
}

/**
 * The chart's numbers as text: a phone has no hover to show a bar's title, and a screen reader reads no bars. Days
 * without a request are left out.
 */
function numbers(series: { day: string; allowed: number; denied: number }[]): SafeHtml {
  const busy = series.filter((d) => d.allowed + d.denied > 0).reverse();
  if (busy.length === 0) return html`<p class="hint">No requests in these 30 days.</p>`;
  return html`<details class="numbers"><summary>Requests per day, in numbers</summary><table><thead><tr><th scope="col">Day</th><th scope="col">Allowed</th><th scope="col">Denied</th></tr></thead><tbody>${busy.map(
    (d) => html`<tr><td>${d.day}</td><td>${d.allowed.toLocaleString('en-US')}</td><td>${d.denied.toLocaleString('en-US')}</td></tr>`,
  )}</tbody></table></details>`;
}

/** Key detail, members and the audit log. */
export function detailPages(app: FastifyInstance, ctx: AppContext): void {
  app.get('/dashboard/keys/:id', async (req, reply) => {
    const page = await signedIn(ctx, req, reply);
    if (!page) return reply;
    let summary: KeyUsageSummary;
    try {
      summary = await ctx.usage.keySummary(page.actor, (req.params as { id: string }).id, { recent: 15 });
    } catch (error) {
      if (error instanceof KeywardError) return errorPanel(page, reply, error, '/dashboard/keys', '/dashboard/keys');
      throw error;
    }
    const { key, plan, usage, recent } = summary;
    const now = ctx.clock.now();
    // What the quota counts: the whole lineage's month (the key and the keys it was rotated from or to).
    const used = summary.quota.used;
    const quota = plan.monthlyRequests;
    const pct = quota ? Math.min(100, Math.round((used / quota) * 20) * 5) : 0;
    const { items: events } = await ctx.audit.list(page.actor, { keyId: key.id }, { limit: 20 });
    const tree = await ctx.usage.keyTree(page.actor, key.id);
    const budget = summary.budget;
    const budgetPct =
      budget && budget.limit > 0 ? Math.min(100, Math.round(((budget.limit - budget.remaining) / budget.limit) * 20) * 5) : 0;
    const names = await ctx.audit.names(page.actor, events);
    const successor = key.rotatedTo ? await ctx.keys.get(page.actor, key.rotatedTo).catch(() => undefined) : undefined;
    const heads = headsLineage(key, successor, now, ctx.environments);
    // Scope requests: the request this key was issued for, and the keys this key's requests became.
    const issued = await ctx.scopeRequests.issuedFrom(page.actor, key.id);
    const asked = key.scopeRequest;
    const requests = html`${asked ? html`<dt>Issued for</dt><dd>a <a href="/dashboard/requests/${asked.id}">scope request</a> of <a href="/dashboard/keys/${asked.requestingKeyId}">the key that asked</a>, approved by ${asked.approverEmail}: “${asked.reason}”</dd>` : ''}${issued.map((r) => html`<dt>Its request</dt><dd>“${r.reason}” became <a href="/dashboard/keys/${r.issuedKeyId ?? ''}">a ${r.grantedScope ?? r.scope} key</a></dd>`)}`;
    const leak = key.leak
      ? html`<div class="error" role="status"><strong>${key.revokedAt !== null ? 'Revoked: found public' : 'Found public'}</strong> ${key.leak.url ? html`at <a href="${safeLink(key.leak.url)}" rel="noopener noreferrer nofollow">${key.leak.url}</a>` : ''} (reported by ${SYSTEM_ACTORS[key.leak.reporter] ?? key.leak.reporter}, ${when(key.leak.at)}).${key.revokedAt === null ? ' It still works (leaks.on_report is notify): rotate or revoke it.' : ' Create a new key and remove this one from where it was found.'}</div>`
      : '';
    const body = html`<p><a href="/dashboard/keys?environment=${key.environment}">← API keys</a></p><h1>${key.name}</h1>${leak}
<p class="lead mono">${key.prefix}…${key.last4} · ${key.environment} · scope ${key.scope} · tier ${key.tier}</p>
${
  presentKey(key, now, ctx.environments).status === 'active' && ctx.keys.mayManage(page.actor, key)
    ? html`<section class="card" aria-labelledby="manage-h"><h2 id="manage-h">${heads ? 'Rotate or revoke' : 'Revoke'}</h2><p class="hint">${heads ? 'Rotating makes a new key with the same settings and keeps this one working for the grace period you pick; revoking' : html`This key was rotated: to rotate again, rotate <a href="/dashboard/keys/${key.rotatedTo}">its successor</a>. Revoking`} stops this key at once, for good.</p>${keyActions(page, key, heads)}</section>`
    : ''
}
<div class="grid">
<section class="card"><h2>This month</h2><p><strong>${used.toLocaleString('en-US')}</strong> of ${quota === null ? 'unlimited' : quota.toLocaleString('en-US')} requests</p>
${quota ? html`<div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="${quota}" aria-valuenow="${used}" aria-label="Monthly quota used"><span class="w${pct}"></span></div>` : ''}
<p class="hint">Resets ${when(usage.resetsAt)}.</p></section>
<section class="card"><h2>Per minute</h2><p><strong>${plan.requestsPerMinute ?? 'unlimited'}</strong> requests per minute</p><p class="hint">Over it: 429 with Retry-After.</p></section>
${
  budget
    ? html`<section class="card"><h2>Budget</h2><p><strong>${budget.remaining.toLocaleString('en-US')}</strong> of ${budget.limit.toLocaleString('en-US')} credits left</p>
<div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="${budget.limit}" aria-valuenow="${budget.limit - budget.remaining}" aria-label="Budget spent"><span class="w${budgetPct}"></span></div>
<p class="hint">Spent by this key and the keys derived from it. When it is spent: 402 budget_exhausted.</p></section>`
    : ''
}
<section class="card"><h2>Key</h2><dl class="facts"><dt>Created</dt><dd>${when(key.createdAt)}</dd><dt>Last used</dt><dd>${when(key.lastUsedAt, 'never')}</dd>
<dt>Expires</dt><dd>${when(key.expiresAt, 'never')}</dd>${key.idleTimeoutSeconds !== null ? html`<dt>Idle timeout</dt><dd>expires after ${key.idleTimeoutSeconds} s unused</dd>` : ''}${key.parentId ? html`<dt>Derived from</dt><dd><a href="/dashboard/keys/${key.parentId}">its parent key</a> (level ${key.depth})</dd>` : ''}${key.resource ? html`<dt>Bound to</dt><dd class="mono">${key.resource}</dd>` : ''}${key.importedFrom ? html`<dt>Imported</dt><dd>from ${key.importedFrom}: it keeps working as it is${key.importedFrom === 'keyward' ? '' : "; rotate it for a key of keyward's format"}</dd>` : ''}<dt>IP allowlist</dt><dd>${key.ipAllowlist.length ? key.ipAllowlist.join(', ') : 'any address'}</dd>
${requests}${key.rotatedFrom ? html`<dt>Replaces</dt><dd><a href="/dashboard/keys/${key.rotatedFrom}">the key it was rotated from</a></dd>` : ''}${key.rotatedTo ? html`<dt>Rotated to</dt><dd><a href="/dashboard/keys/${key.rotatedTo}">its successor</a></dd>` : ''}</dl></section>
</div>
<section class="card"><h2>Agent</h2><form method="post" action="/dashboard/keys/${key.id}/agent" class="inline">${csrfField(page)}<label for="agent">Issued to agent</label>
<input id="agent" name="agent" maxlength="100" placeholder="none" value="${key.agent ?? ''}" aria-describedby="agent-hint"> <button type="submit" class="secondary small">Save</button>
<div class="hint" id="agent-hint">Usage and the audit log filter by it (<code>?agent=</code>); keys derived by agents carry their own.</div></form></section>
<section class="card"><h2>Keys derived from it</h2>${
      tree.length === 0
        ? html`<p class="muted">None. An agent derives child keys with <code>keyward token --derive</code>, <code>POST /v1/keys/derive</code> or token exchange; they appear here with their use.</p>`
        : html`<p class="hint">${summary.tree.keys - 1} in all, ${summary.tree.allowed.toLocaleString('en-US')} requests this month with this key. Revoking a key revokes every key below it.</p>
<div class="table-wrap"><table class="tree"><thead><tr><th scope="col">Key</th><th scope="col">Agent</th><th scope="col">Scope</th><th scope="col">Expires</th><th scope="col">Requests this month</th><th scope="col">Status</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead><tbody>${tree.map(
            ({ key: k, allowed }) => {
              const status = presentKey(k, now, ctx.environments).status;
              const revoke =
                status === 'active' && ctx.keys.mayManage(page.actor, k)
                  ? html`<form method="post" action="/dashboard/keys/${k.id}/revoke-branch" data-confirm="Revoke ${k.name} and every key derived from it? Requests with them will fail at once.">${csrfField(page)}<input type="hidden" name="from" value="${key.id}"><button type="submit" class="danger small">Revoke branch</button></form>`
                  : '';
              return html`<tr><td class="depth-${k.depth - key.depth}"><a href="/dashboard/keys/${k.id}">${k.name}</a> <span class="mono hint">${k.prefix}…${k.last4}</span></td><td>${k.agent ?? '—'}</td><td>${k.scope}</td><td>${when(k.expiresAt, 'never')}</td><td>${allowed.toLocaleString('en-US')}</td><td><span class="badge ${status}">${status}</span></td><td>${revoke}</td></tr>`;
            },
          )}</tbody></table></div>`
    }</section>
<section class="card"><h2>Requests per day</h2>${chart(usage.daily, now)}</section>
<section class="card"><h2>Recent requests</h2>${
      recent.length === 0
        ? html`<p class="muted">No requests yet.</p>`
        : html`<div class="table-wrap"><table><thead><tr><th scope="col">When</th><th scope="col">Request</th><th scope="col">Status</th><th scope="col">From</th></tr></thead><tbody>${recent.map(
            (r) =>
              html`<tr><td>${when(r.at)}</td><td class="mono">${r.method} ${r.path}</td><td>${r.status}</td><td class="mono">${r.ip}</td></tr>`,
          )}</tbody></table></div>`
    }</section>
<section class="card"><h2>Audit events</h2>${auditTable(events, names)}</section>`;
    return page.render(reply, { title: key.name, current: '/dashboard/keys', body });
  });

  app.post('/dashboard/keys/:id/agent', async (req, reply) => {
    const page = await signedIn(ctx, req, reply);
    if (!page) return reply;
    const id = (req.params as { id: string }).id;
    try {
      return await formAction(ctx, req, reply, page, '/dashboard/keys', async (form) => {
        const { agent } = parse(agentBody, { agent: form.agent?.trim() ? form.agent : null });
        await ctx.keys.setAgent(page.actor, id, agent);
        return { location: `/dashboard/keys/${encodeURIComponent(id)}` };
      });
    } catch (error) {
      if (error instanceof KeywardError && error.status < 500)
        return errorPanel(page, reply, error, '/dashboard/keys', `/dashboard/keys/${id}`);
      throw error;
    }
  });

  // A branch of a key's tree: the key and everything derived from it, revoked from the tree's page, which it returns to.
  app.post('/dashboard/keys/:id/revoke-branch', async (req, reply) => {
    const page = await signedIn(ctx, req, reply);
    if (!page) return reply;
    const id = (req.params as { id: string }).id;
    try {
      return await formAction(ctx, req, reply, page, '/dashboard/keys', async (form) => {
        const key = await ctx.keys.revoke(page.actor, id);
        const from = keyIdParam.safeParse(form.from).success ? (form.from as string) : (key.parentId ?? key.id);
        return { location: `/dashboard/keys/${from}` };
      });
    } catch (error) {
      if (error instanceof KeywardError && error.status < 500) return errorPanel(page, reply, error, '/dashboard/keys', '/dashboard/keys');
      throw error;
    }
  });

  app.get('/dashboard/audit', async (req, reply) => {
    const page = await signedIn(ctx, req, reply);
    if (!page) return reply;
    const from = pageFrom(req.query);
    const { items: events, next } = await ctx.audit.list(page.actor, {}, from);
    const names = await ctx.audit.names(page.actor, events);
    return page.render(reply, {
      title: 'Audit log',
      current: '/dashboard/audit',
      body: html`<h1>Audit log</h1><p class="lead">Who did what, newest first: keys created, rotated and revoked, member changes, refused requests.</p><section class="card">${auditTable(events, names)}${pager('/dashboard/audit', {}, next, Boolean(from.after))}</section>`,
    });
  });

  const membersPage = async (
    page: SignedIn,
    reply: Parameters<SignedIn['render']>[0],
    top?: SafeHtml,
    status = 200,
    from = pageFrom({}),
  ) => {
    const { items: members, next } = await ctx.members.list(page.actor, from);
    const may = (action: Action) => can(page.actor, action).allowed;
    const rows = members.map(
      (
        m,
      ) => html`<tr><td>${m.email}${m.userId === page.actor.userId ? html` <span class="badge">you</span>` : ''}</td><td>${m.userId ? 'active' : 'invited'}</td>
<td>${
        may('member.change_role')
          ? html`<form method="post" action="/dashboard/members/${m.id}/role" class="row-actions">${csrfField(page)}<label class="sr-only" for="r-${m.id}">Role of ${m.email}</label>
<select id="r-${m.id}" name="role" class="compact">${ROLES.map((r) => html`<option value="${r}"${r === m.role ? html` selected` : ''}>${r}</option>`)}</select><button type="submit" class="secondary small">Change role</button></form>`
          : html`<span class="role">${m.role}</span>`
      }</td><td>${may('member.remove') ? html`<form method="post" action="/dashboard/members/${m.id}/remove" class="inline" data-confirm="Remove ${m.email}? Their keys stop working at once.">${csrfField(page)}<button type="submit" class="danger small">Remove</button></form>` : ''}</td></tr>`,
    );
    const body = html`<h1>Members</h1><p class="lead">A key never does more than the role of the person who made it, now.</p>${top ?? ''}
<section class="card"><div class="table-wrap"><table><thead><tr><th scope="col">E-mail</th><th scope="col">Status</th><th scope="col">Role</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead><tbody>${rows}</tbody></table></div>${pager('/dashboard/members', {}, next, Boolean(from.after))}</section>
<section class="card"><h2>Roles</h2><dl class="facts roles">${ROLES.map((r) => html`<dt>${r}</dt><dd>${ROLE_TEXT[r]}</dd>`)}</dl></section>
${
  may('member.invite')
    ? html`<section class="card"><h2>Invite someone</h2><form method="post" action="/dashboard/members">${csrfField(page)}
<div class="grid"><div><label for="invite-email">E-mail address</label><input id="invite-email" name="email" type="email" required></div>
<div><label for="invite-role">Role</label><select id="invite-role" name="role">${ROLES.map((r) => html`<option value="${r}"${r === 'write' ? html` selected` : ''}>${r}</option>`)}</select></div></div>
<div class="actions"><button type="submit">Create invitation</button></div></form></section>`
    : ''
}`;
    return page.render(reply, { title: 'Members', current: '/dashboard/members', body, status });
  };

  app.get('/dashboard/members', async (req, reply) => {
    const page = await signedIn(ctx, req, reply);
    if (!page) return reply;
    const invitation = await ctx.forms.reveal<InviteSecret>(page.session.sessionId, (req.query as Form).shown);
    if (!invitation) return membersPage(page, reply, undefined, 200, pageFrom(req.query));
    reply.header('cache-control', 'no-store');
    const top = html`<section class="card"><h2>Invitation for ${invitation.email}</h2><div class="notice">Send this link to ${invitation.email}. It works once, for 7 days, and is shown only now.</div>
<div class="secret"><label class="sr-only" for="invite-link">Invitation link</label><input id="invite-link" class="mono" readonly value="${invitation.link}"><button type="button" data-copy="invite-link">Copy</button></div></section>`;
    return membersPage(page, reply, top);
  });

  const MEMBERS = '/dashboard/members';
  const memberError = (page: SignedIn, reply: Parameters<SignedIn['render']>[0], error: unknown) => {
    if (error instanceof KeywardError && error.status < 500)
      return membersPage(page, reply, html`<div class="error" role="alert">${error.message}</div>`, error.status);
    throw error;
  };

  app.post('/dashboard/members', async (req, reply) => {
    const page = await signedIn(ctx, req, reply);
    if (!page) return reply;
    try {
      return await formAction<InviteSecret>(ctx, req, reply, page, MEMBERS, async (form) => {
        const body = parse(inviteBody, { email: String(form.email ?? '').trim(), role: form.role ?? '' });
        const { inviteToken } = await ctx.members.invite(page.actor, body.email, body.role);
        const link = `${ctx.config.publicUrl}/signup?invite_token=${encodeURIComponent(inviteToken)}`;
        return { location: MEMBERS, secret: { email: body.email, link } };
      });
    } catch (error) {
      return memberError(page, reply, error);
    }
  });

  for (const action of ['role', 'remove'] as const) {
    app.post(`/dashboard/members/:id/${action}`, async (req, reply) => {
      const page = await signedIn(ctx, req, reply);
      if (!page) return reply;
      const id = (req.params as { id: string }).id;
      try {
        return await formAction(ctx, req, reply, page, MEMBERS, async (form) => {
          if (action === 'role') await ctx.members.changeRole(page.actor, id, parse(roleBody, { role: form.role ?? '' }).role);
          else await ctx.members.remove(page.actor, id);
          return { location: MEMBERS };
        });
      } catch (error) {
        return memberError(page, reply, error);
      }
    });
  }
}
