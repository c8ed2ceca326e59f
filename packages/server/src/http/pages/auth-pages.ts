import { KeywardError } from '@keyward/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { actorOfSession, type SessionContext } from '../../accounts/account-service.js';
import { can } from '../../auth/authorization.js';
import type { AppContext } from '../context.js';
import { csrfToken, csrfValid, html, type SafeHtml, safeNext, sendPage } from '../html.js';
import { cookieValue, SESSION_COOKIE } from '../request-auth.js';
import { setSessionCookie } from '../routes/auth.js';
import { fitPersonName } from '../schemas.js';
import { CSS, JS } from './assets.js';

type Form = Record<string, string | undefined>;

export function isEmail(value: string): boolean {
  return value.length <= 254 && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value);
}

function signInForm(next: string, error?: string, email = ''): SafeHtml {
  return html`<div class="card narrow"><h1>Sign in to keyward</h1><p class="lead">Use your e-mail address and password.</p>
${error ? html`<div class="error" role="alert">${error}</div>` : ''}
<form method="post" action="/login"><input type="hidden" name="next" value="${next}">
<label for="email">E-mail address</label><input id="email" name="email" type="email" autocomplete="username" required value="${email}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<div class="actions"><button type="submit">Sign in</button><a class="button secondary" href="/signup?next=${encodeURIComponent(next)}">Create an account</a></div>
</form></div>`;
}

/** What the invitation a sign-up page was opened with is for (undefined: none, or no longer valid). */
type Invitation = Awaited<ReturnType<AppContext['accounts']['invitation']>>;

function signUpForm(next: string, invite: string, invitation: Invitation, error?: string, email = ''): SafeHtml {
  // An import's claim link may also be claimed by an account that exists: sign in, open the link again.
  const signInToClaim = invitation?.imported
    ? html` Have an account already? <a href="/login?next=${encodeURIComponent(`/signup?invite_token=${invite}`)}">Sign in</a> and open this link again to move the keys into your organization.`
    : '';
  const lead = invitation
    ? html`You were invited to join <strong>${invitation.organization}</strong> as <strong>${invitation.role}</strong>. Create your account with ${invitation.email ? 'the address the invitation was sent to' : 'an address of your own'}.${signInToClaim}`
    : invite
      ? 'This invitation link is invalid, used or expired: ask whoever sent it for a new one.'
      : 'You will be the admin of a new organization.';
  return html`<div class="card narrow"><h1>${invitation ? html`Join ${invitation.organization}` : 'Create your keyward account'}</h1>
<p class="lead">${lead}</p>
${error ? html`<div class="error" role="alert">${error}</div>` : ''}
<form method="post" action="/signup"><input type="hidden" name="next" value="${next}"><input type="hidden" name="invite_token" value="${invite}">
<label for="name">Name</label><input id="name" name="name" autocomplete="name">
<label for="email">E-mail address</label><input id="email" name="email" type="email" autocomplete="username" required value="${email || invitation?.email || ''}"${invitation ? html` readonly aria-describedby="email-hint"` : ''}>${invitation ? html`<div class="hint" id="email-hint">The address the invitation was sent to.</div>` : ''}
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="new-password" minlength="8" required>
<div class="hint">At least 8 characters.</div>
<div class="actions"><button type="submit">Create account</button><a class="button secondary" href="/login?next=${encodeURIComponent(next)}">I have an account</a></div>
</form></div>`;
}

/**
 * A signed-in person who opens an import's claim link: one button moves the keys into their organization. The link
 * is the proof (a secret the operator sent to the keys' owner), so whoever opens it signed in may claim it.
 */
function claimForm(invite: string, invitation: NonNullable<Invitation>, session: SessionContext, csrf: string): SafeHtml {
  const { email } = session.user;
  const organization = session.organization.name;
  if (!can(actorOfSession(session), 'import.claim').allowed) {
    return html`<div class="card narrow"><h1>Claim the imported keys</h1>
<p class="lead">This link holds the keys imported into <strong>${invitation.organization}</strong>. Only an admin of <strong>${organization}</strong> can bring them into it; you (<strong>${email}</strong>) are a ${session.member.role} member. Ask an admin to open this link while signed in.</p>
<div class="actions"><a class="button secondary" href="/dashboard">Back to the dashboard</a></div></div>`;
  }
  return html`<div class="card narrow"><h1>Claim the imported keys</h1>
<p class="lead">This link holds the keys imported into <strong>${invitation.organization}</strong>. Claiming them moves them into <strong>${organization}</strong>, created by you (<strong>${email}</strong>), so they act with at most your role there. The link then stops working.</p>
<form method="post" action="/claim"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="invite_token" value="${invite}">
<div class="actions"><button type="submit">Claim the keys</button><a class="button secondary" href="/dashboard">Not now</a></div>
</form></div>`;
}

/** Sign in, sign up and sign out as pages, and the static assets they use. */
export function authPages(app: FastifyInstance, ctx: AppContext): void {
  app.get('/assets/keyward.css', (_req, reply) =>
    reply.header('content-type', 'text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(CSS),
  );
  app.get('/assets/keyward.js', (_req, reply) =>
    reply.header('content-type', 'text/javascript; charset=utf-8').header('cache-control', 'public, max-age=3600').send(JS),
  );

  app.get('/favicon.ico', (_req, reply) => reply.code(204).send());

  app.get('/login', { config: { ownText: ['next'] } }, async (req, reply) => {
    const next = safeNext((req.query as Form).next);
    if (await ctx.auth.session(req)) return reply.redirect(next, 303);
    return sendPage(reply, { title: 'Sign in', body: signInForm(next) });
  });

  app.post('/login', { config: { ownText: ['next'] } }, async (req, reply) => {
    const form = (req.body ?? {}) as Form;
    const next = safeNext(form.next);
    if (!ctx.auth.fromOwnOrigin(req)) throw new KeywardError('forbidden', 'Cross-origin form posts are not allowed.');
    try {
      const { token } = await ctx.accounts.login(String(form.email ?? ''), String(form.password ?? ''), ctx.auth.clientIp(req));
      setSessionCookie(ctx, reply, token, ctx.config.sessionTtlMs);
      return reply.redirect(next, 303);
    } catch (error) {
      if (!(error instanceof KeywardError)) throw error;
      for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
      return sendPage(reply, { title: 'Sign in', status: error.status, body: signInForm(next, error.message, form.email) });
    }
  });

  app.get('/signup', { config: { ownText: ['next'] } }, async (req, reply) => {
    const q = req.query as Form;
    const invite = String(q.invite_token ?? '').slice(0, 200);
    const invitation = await ctx.accounts.invitation(invite);
    const session = invitation?.imported ? await ctx.auth.session(req) : null;
    if (invitation && session) {
      const csrf = csrfToken(ctx.config.secret, session.sessionId);
      return sendPage(reply, {
        title: 'Claim imported keys',
        body: claimForm(invite, invitation, session, csrf),
      });
    }
    return sendPage(reply, {
      title: invitation ? `Join ${invitation.organization}` : 'Create account',
      body: signUpForm(safeNext(q.next), invite, invitation),
    });
  });

  app.post('/signup', { config: { ownText: ['next'] } }, async (req, reply) => {
    const form = (req.body ?? {}) as Form;
    const next = safeNext(form.next);
    const invite = String(form.invite_token ?? '').slice(0, 200);
    if (!ctx.auth.fromOwnOrigin(req)) throw new KeywardError('forbidden', 'Cross-origin form posts are not allowed.');
    const email = String(form.email ?? '').trim();
    const password = String(form.password ?? '');
    const fail = async (message: string) =>
      sendPage(reply, {
        title: 'Create account',
        status: 400,
        body: signUpForm(next, invite, await ctx.accounts.invitation(invite), message, email),
      });
    if (!isEmail(email)) return fail('Enter a valid e-mail address.');
    if (password.length < 8 || password.length > 256) return fail('The password must be at least 8 characters.');
    try {
      const { token } = await ctx.accounts.signup(
        {
          email,
          password,
          ...(form.name?.trim() ? { name: fitPersonName(form.name) } : {}),
          ...(invite ? { inviteToken: invite } : {}),
        },
        ctx.auth.clientIp(req),
      );
      setSessionCookie(ctx, reply, token, ctx.config.sessionTtlMs);
      return reply.redirect(next, 303);
    } catch (error) {
      if (!(error instanceof KeywardError)) throw error;
      return fail(error.message);
    }
  });

  app.post('/claim', async (req, reply) => {
    const form = (req.body ?? {}) as Form;
    const invite = String(form.invite_token ?? '').slice(0, 200);
    const session = await ctx.auth.session(req);
    if (!session) return reply.redirect(`/login?next=${encodeURIComponent(`/signup?invite_token=${invite}`)}`, 303);
    if (!ctx.auth.fromOwnOrigin(req) || !csrfValid(ctx.config.secret, session.sessionId, form.csrf)) {
      throw new KeywardError('forbidden', 'This form did not come from keyward (missing or wrong CSRF token).');
    }
    await ctx.importer.claim(invite, actorOfSession(session));
    return reply.redirect('/dashboard/keys', 303);
  });

  app.post('/logout', async (req, reply) => {
    if (!ctx.auth.fromOwnOrigin(req)) throw new KeywardError('forbidden', 'Cross-origin form posts are not allowed.');
    const token = cookieValue(req, SESSION_COOKIE);
    if (token) await ctx.accounts.logout(token);
    reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`);
    return reply.redirect('/login', 303);
  });
}

/** Sends a person who is not signed in to the sign-in page, coming back here afterwards. */
export function toSignIn(req: FastifyRequest, reply: FastifyReply) {
  return reply.redirect(`/login?next=${encodeURIComponent(req.url)}`, 303);
}
