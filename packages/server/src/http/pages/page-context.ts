import { KeywardError } from '@keyward/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Actor, actorOfSession, type SessionContext } from '../../accounts/account-service.js';
import type { FormOutcome } from '../../forms/one-time-forms.js';
import { DEFAULT_PAGE_SIZE, decodeCursor, type PageRequest } from '../../pagination.js';
import type { AppContext } from '../context.js';
import { csrfToken, csrfValid, html, type PageOptions, type SafeHtml, sendPage } from '../html.js';
import { toSignIn } from './auth-pages.js';

export type Form = Record<string, string | undefined>;

const NAV = [
  ['/dashboard', 'Overview'],
  ['/dashboard/keys', 'API keys'],
  ['/dashboard/members', 'Members'],
  ['/dashboard/audit', 'Audit log'],
  ['/dashboard/webhooks', 'Webhooks'],
  ['/dashboard/requests', 'Requests'],
] as const;

/** A signed-in page: its session, the actor it acts as, and a `render` that adds the navigation and header. */
export interface SignedIn {
  session: SessionContext;
  actor: Actor;
  csrf: string;
  /** A fresh one-time token for one form on the page. */
  formToken(): string;
  render(reply: FastifyReply, o: Omit<PageOptions, 'user' | 'nav'> & { current: string }): FastifyReply;
}

export async function signedIn(ctx: AppContext, req: FastifyRequest, reply: FastifyReply): Promise<SignedIn | null> {
  const session = await ctx.auth.session(req);
  if (!session) {
    toSignIn(req, reply);
    return null;
  }
  const csrf = csrfToken(ctx.config.secret, session.sessionId);
  const actor = actorOfSession(session);
  // Scope requests the person may decide: the count beside Requests, on every page.
  const waiting = await ctx.scopeRequests.pendingCount(actor);
  return {
    session,
    csrf,
    formToken: () => ctx.forms.issue(),
    actor,
    render(r, o) {
      const count = (href: string) =>
        href === '/dashboard/requests' && waiting > 0
          ? html` <span class="badge" aria-label="${waiting} waiting for you">${waiting}</span>`
          : '';
      const nav = html`<nav aria-label="Main">${NAV.map(([href, label]) => html`<a href="${href}"${o.current === href ? html` aria-current="page"` : ''}>${label}${count(href)}</a>`)}</nav>`;
      return sendPage(r, { ...o, nav, user: { email: session.user.email, csrf } });
    },
  };
}

/** Every dashboard form post: from our origin, with the session's CSRF token. Anything else is a 403. */
export function checkForm(ctx: AppContext, req: FastifyRequest, page: SignedIn): Form {
  const form = (req.body ?? {}) as Form;
  if (!ctx.auth.fromOwnOrigin(req) || !csrfValid(ctx.config.secret, page.session.sessionId, form.csrf)) {
    throw new KeywardError('forbidden', 'This form did not come from keyward (missing or wrong CSRF token).');
  }
  return form;
}

/** The hidden fields of every dashboard form: the session's CSRF token and the form's own one-time token. */
export function csrfField(page: SignedIn): SafeHtml {
  return html`<input type="hidden" name="csrf" value="${page.csrf}"><input type="hidden" name="form_token" value="${page.formToken()}">`;
}

/**
 * A dashboard form post, POST-redirect-GET: CSRF checked, the action run once per one-time token, the browser sent
 * to the result (the same post sent again is sent there too, and acts no more).
 */
export async function formAction<S>(
  ctx: AppContext,
  req: FastifyRequest,
  reply: FastifyReply,
  page: SignedIn,
  fallback: string,
  act: (form: Form) => Promise<FormOutcome<S>>,
): Promise<FastifyReply> {
  const form = checkForm(ctx, req, page);
  const location = await ctx.forms.run(page.session.sessionId, form.form_token, fallback, () => act(form));
  return reply.redirect(location, 303);
}

/** Where a list page starts: `?cursor=` of the page before (a cursor that is not ours is a 400 page). */
export function pageFrom(query: unknown): PageRequest {
  const cursor = (query as Form | undefined)?.cursor;
  return { limit: DEFAULT_PAGE_SIZE, after: cursor ? decodeCursor(cursor) : undefined };
}

/** Links to the first and the next page of a list, kept with the page's other query parameters. */
export function pager(path: string, params: Record<string, string>, next: string | null, paged: boolean): SafeHtml | '' {
  if (!next && !paged) return '';
  const link = (extra: Record<string, string>) => `${path}?${new URLSearchParams({ ...params, ...extra }).toString()}`;
  return html`<nav class="pager" aria-label="Pages">${paged ? html`<a href="${link({})}">← First page</a>` : ''}${next ? html`<a href="${link({ cursor: next })}" rel="next">Next page →</a>` : ''}</nav>`;
}

export function when(ms: number | null, empty = '—'): string {
  return ms === null ? empty : new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
}

/** An error page in the dashboard's frame, for a KeywardError thrown by a service. */
export function errorPanel(page: SignedIn, reply: FastifyReply, error: KeywardError, current: string, back: string) {
  return page.render(reply, {
    title: 'Not done',
    current,
    status: error.status,
    body: html`<div class="card"><h1>That did not work</h1><div class="error" role="alert">${error.message}</div><a class="button secondary" href="${back}">Back</a></div>`,
  });
}
