import { KeywardError, SCOPE_DESCRIPTIONS, SCOPES, type Scope } from '@keyward/core';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { actorOfSession, type SessionContext } from '../../accounts/account-service.js';
import { scopesOfNewKeys } from '../../auth/authorization.js';
import { firstPartyClient, type KnownClient, redirectAllowed } from '../../signin/clients.js';
import { loopbackCallback, type SignInRequest } from '../../signin/grant-service.js';
import type { AppContext } from '../context.js';
import { csrfToken, csrfValid, html, type SafeHtml, sendPage } from '../html.js';
import { toSignIn } from './auth-pages.js';

type Params = Record<string, string | undefined>;

function errorPage(reply: FastifyReply, status: number, title: string, message: string) {
  return sendPage(reply, {
    title,
    status,
    body: html`<div class="card narrow"><h1>${title}</h1><div class="error" role="alert">${message}</div></div>`,
  });
}

/** Which program asks: keyward's own CLI by name and what it is, any other name with the warning that it is only a name. */
function application(clientId: string | null): SafeHtml | string {
  if (!clientId) return 'keyward CLI';
  const own = firstPartyClient(clientId);
  if (own) return html`${own.name} <span class="muted">— ${own.what}</span>`;
  return html`${clientId} <span class="warning">not verified: keyward cannot tell which program uses this name. Approve only a sign-in you started yourself.</span>`;
}

function facts(
  ctx: AppContext,
  session: SessionContext,
  r: SignInRequest,
  extra: SafeHtml | string = '',
  choice?: { asked: Scope; offered: Scope[] },
): SafeHtml {
  const env = ctx.environments.get(r.environment);
  const scope: Scope = r.scope ?? 'write';
  return html`<dl class="facts">
<dt>Application</dt><dd>${application(r.clientId)}</dd>
<dt>Key name</dt><dd>${r.name}</dd>
<dt>Environment</dt><dd>${r.environment}${env?.baseUrl ? html` <span class="muted">(${env.baseUrl})</span>` : ''} — key starts with <code>${env?.prefix ?? ''}</code></dd>
${choice ? '' : html`<dt>Scope</dt><dd>${scope} <span class="muted">— ${SCOPE_DESCRIPTIONS[scope]}</span></dd>`}
<dt>Organization</dt><dd>${session.organization.name}</dd>
${extra}</dl>
${scope !== 'read' && scopesOfNewKeys(actorOfSession(session), r.environment).length < SCOPES.length ? html`<p class="hint">The key can never do more than your role (${session.member.role}) allows.</p>` : ''}`;
}

/**
 * The scope the key gets, for the person to lower: radio buttons from the lowest scope up to the one asked, the one
 * asked checked. When the role allows less than was asked, none is checked: the person picks one, knowingly.
 */
function scopeChoice(choice: { asked: Scope; offered: Scope[] }): SafeHtml {
  const fits = choice.offered.includes(choice.asked);
  return html`<fieldset><legend>Scope of the key</legend>${fits ? '' : html`<p class="hint">The application asks for ${choice.asked}; your role allows less. Pick one of these, or deny.</p>`}${choice.offered.map(
    (s) =>
      html`<label class="radio"><input type="radio" name="key_scope" value="${s}" required${s === choice.asked ? html` checked` : ''}><span><strong>${s}</strong>${s === choice.asked ? ' (asked for)' : ''} — ${SCOPE_DESCRIPTIONS[s]}</span></label>`,
  )}<div class="hint">You may give the key less than the application asked for, never more.</div></fieldset>`;
}

/**
 * The consent pages of agent sign-in: `/auth/cli` (loopback + PKCE, or the direct-key redirect when configured)
 * and `/device` (RFC 8628). Parameters are checked before anything else, so a bad callback is a 400 page and
 * never a redirect.
 */
export function signInPages(app: FastifyInstance, ctx: AppContext): void {
  const user = (s: SessionContext) => ({ email: s.user.email, csrf: csrfToken(ctx.config.secret, s.sessionId) });

  /**
   * The sign-in's parameters, OAuth names accepted too; throws a KeywardError describing the problem. A registered
   * client (RFC 7591) or one named by its metadata document returns to one of its redirect URIs (https, or loopback
   * on any port); any other caller (the CLI, a free-text client_id) to a loopback address only.
   */
  async function loopbackParams(p: Params, address: string) {
    const callbackRaw = p.callback_url ?? p.redirect_uri;
    let client: KnownClient | null;
    try {
      client = await ctx.clients.find(p.client_id, address);
    } catch (error) {
      // A throttled metadata document fetch stays a 429 (with its Retry-After); anything else is a bad link.
      if (error instanceof KeywardError) throw error;
      throw new KeywardError('invalid_request', (error as Error).message);
    }
    const callback = client
      ? callbackRaw && redirectAllowed(client.redirectUris, callbackRaw)
        ? new URL(callbackRaw)
        : null
      : loopbackCallback(callbackRaw);
    if (!callback)
      throw new KeywardError(
        'invalid_request',
        client
          ? `redirect_uri is not one of ${client.name}'s registered redirect URIs.`
          : 'callback_url must be http://127.0.0.1:<port>, http://[::1]:<port> or http://localhost:<port>.',
      );
    if (p.response_type !== undefined && p.response_type !== 'code')
      throw new KeywardError('invalid_request', 'response_type must be code.');
    const direct = ctx.config.agentSignIn.directKeyParam;
    const challenge = p.code_challenge;
    if (!challenge && !direct) throw new KeywardError('invalid_request', 'code_challenge (PKCE, S256) is required.');
    if (challenge && (!/^[A-Za-z0-9_-]{43}$/.test(challenge) || (p.code_challenge_method ?? 'S256') !== 'S256')) {
      throw new KeywardError('invalid_request', 'code_challenge must be a base64url SHA-256 and code_challenge_method S256.');
    }
    const state = p.state ?? '';
    if (state.length > 512) throw new KeywardError('invalid_request', 'state is too long.');
    const request = ctx.signIn.checkRequest({
      environment: p.environment,
      name: p.name,
      scope: p.scope,
      clientId: p.client_id,
      clientName: client?.name,
      resource: p.resource,
    });
    return {
      callback: callbackRaw as string,
      callbackOrigin: callback.origin,
      port: callback.port,
      loopback: loopbackCallback(callbackRaw) !== null,
      challenge: challenge ?? null,
      state,
      request,
      client,
    };
  }

  function redirectTo(callback: string, params: Record<string, string>): string {
    const url = new URL(callback);
    for (const [k, v] of Object.entries(params)) if (v !== '') url.searchParams.set(k, v);
    return url.toString();
  }

  app.get('/auth/cli', async (req, reply) => {
    const p = req.query as Params;
    let checked: Awaited<ReturnType<typeof loopbackParams>>;
    try {
      checked = await loopbackParams(p, ctx.auth.clientIp(req));
    } catch (error) {
      if (error instanceof KeywardError && error.code !== 'rate_limited')
        return errorPage(reply, 400, 'This sign-in link is not valid', error.message);
      throw error;
    }
    const session = await ctx.auth.session(req);
    if (!session) return toSignIn(req, reply);
    const hidden = Object.entries({
      callback_url: checked.callback,
      state: checked.state,
      code_challenge: checked.challenge ?? '',
      environment: checked.request.environment,
      name: checked.request.name,
      scope: [checked.request.scope ?? '', checked.request.offline ? 'offline_access' : ''].filter(Boolean).join(' '),
      client_id: checked.request.clientId ?? '',
      resource: checked.request.resource ?? '',
    }).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`);
    const choice = ctx.signIn.scopeChoice(actorOfSession(session), checked.request);
    const body = html`<div class="card narrow"><h1>Create a key for an agent?</h1>
<p class="lead">An application on this computer asks for an API key. Approve only if you started it.</p>
${facts(
  ctx,
  session,
  checked.request,
  html`${checked.client ? html`<dt>Client</dt><dd>${checked.client.name} <span class="warning">${checked.client.kind === 'registered' ? 'registered by itself: keyward cannot tell who runs it' : html`described by <code>${new URL(checked.client.clientId).host}</code>`}</span></dd>` : ''}${checked.request.resource ? html`<dt>For</dt><dd><code>${checked.request.resource}</code> only</dd>` : ''}${checked.request.offline ? html`<dt>Access</dt><dd>renewable: the key lives an hour, the client may renew it without you</dd>` : ''}<dt>Returns to</dt><dd><code>${checked.callbackOrigin}</code>${checked.loopback ? ` (port ${checked.port} on this computer)` : ''}</dd>`,
  choice,
)}
<form method="post" action="/auth/cli">${hidden}${choice.offered.length > 0 ? scopeChoice(choice) : ''}<input type="hidden" name="csrf" value="${csrfToken(ctx.config.secret, session.sessionId)}">
<div class="actions"><button type="submit" name="decision" value="approve">Approve and create key</button>
<button type="submit" name="decision" value="deny" class="secondary" formnovalidate>Deny</button></div></form></div>`;
    return sendPage(reply, { title: 'Approve sign-in', body, formTargets: [checked.callbackOrigin], user: user(session) });
  });

  app.post('/auth/cli', async (req, reply) => {
    const form = (req.body ?? {}) as Params;
    let checked: Awaited<ReturnType<typeof loopbackParams>>;
    try {
      checked = await loopbackParams(form, ctx.auth.clientIp(req));
    } catch (error) {
      if (error instanceof KeywardError && error.code !== 'rate_limited')
        return errorPage(reply, 400, 'This sign-in is not valid', error.message);
      throw error;
    }
    const session = await ctx.auth.session(req);
    if (!session) return errorPage(reply, 401, 'Signed out', 'Sign in again and restart the sign-in from your application.');
    if (!ctx.auth.fromOwnOrigin(req) || !csrfValid(ctx.config.secret, session.sessionId, form.csrf)) {
      return errorPage(reply, 403, 'Request refused', 'This form did not come from keyward. Start the sign-in again.');
    }
    if (form.decision !== 'approve')
      return reply.redirect(redirectTo(checked.callback, { error: 'access_denied', state: checked.state, iss: ctx.config.publicUrl }), 303);
    const actor = actorOfSession(session);
    let request: SignInRequest;
    try {
      request = ctx.signIn.withChosenScope(actor, checked.request, form.key_scope);
    } catch (error) {
      if (error instanceof KeywardError) return errorPage(reply, error.status, 'No key was created', error.message);
      throw error;
    }
    const direct = ctx.config.agentSignIn.directKeyParam;
    if (!checked.challenge && direct) {
      try {
        const { rawKey } = await ctx.signIn.mintDirect(actor, request);
        reply.header('referrer-policy', 'no-referrer');
        return reply.redirect(redirectTo(checked.callback, { [direct]: rawKey, state: checked.state }), 303);
      } catch (error) {
        if (error instanceof KeywardError) return errorPage(reply, error.status, 'No key was created', error.message);
        throw error;
      }
    }
    const code = await ctx.signIn.approveCode(actor, request, checked.challenge as string, checked.callback);
    // RFC 9207: the answer names its issuer, so a client talking to several servers cannot be sent a code of another.
    return reply.redirect(redirectTo(checked.callback, { code, state: checked.state, iss: ctx.config.publicUrl }), 303);
  });

  app.get('/device', async (req, reply) => {
    const session = await ctx.auth.session(req);
    if (!session) return toSignIn(req, reply);
    const typed = (req.query as Params).user_code;
    const grant = typed ? await ctx.signIn.pendingDevice(typed, ctx.auth.clientIp(req)) : null;
    if (!grant) {
      const body = html`<div class="card narrow"><h1>Connect a device</h1><p class="lead">Enter the code your terminal or agent shows.</p>
${typed ? html`<div class="error" role="alert">That code is not valid or has expired.</div>` : ''}
<form method="get" action="/device"><label for="user_code">Code</label>
<input id="user_code" name="user_code" class="usercode" autocomplete="off" placeholder="XXXX-XXXX" required value="${typed ?? ''}">
<div class="actions"><button type="submit">Continue</button></div></form></div>`;
      return sendPage(reply, { title: 'Connect a device', body, user: user(session), status: typed ? 400 : 200 });
    }
    const request: SignInRequest = {
      environment: grant.environment,
      name: grant.name,
      scope: grant.scope,
      clientId: grant.clientId,
      resource: grant.resource,
      offline: grant.offline,
    };
    const body = html`<div class="card narrow"><h1>Create a key for this device?</h1>
<p class="lead">Check that your device shows <strong class="mono">${grant.userCode}</strong>.</p>${facts(ctx, session, request)}
<form method="post" action="/device"><input type="hidden" name="user_code" value="${grant.userCode}"><input type="hidden" name="csrf" value="${csrfToken(ctx.config.secret, session.sessionId)}">
<div class="actions"><button type="submit" name="decision" value="approve">Approve and create key</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button></div></form></div>`;
    return sendPage(reply, { title: 'Approve device', body, user: user(session) });
  });

  app.post('/device', async (req, reply) => {
    const form = (req.body ?? {}) as Params;
    const session = await ctx.auth.session(req);
    if (!session) return toSignIn(req, reply);
    if (!ctx.auth.fromOwnOrigin(req) || !csrfValid(ctx.config.secret, session.sessionId, form.csrf)) {
      return errorPage(reply, 403, 'Request refused', 'This form did not come from keyward.');
    }
    const grant = await ctx.signIn.pendingDevice(String(form.user_code ?? ''), ctx.auth.clientIp(req));
    if (!grant) return errorPage(reply, 400, 'Code not valid', 'That code is not valid, was already answered, or has expired.');
    const approve = form.decision === 'approve';
    await ctx.signIn.answerDevice(actorOfSession(session), grant, approve);
    const body = approve
      ? html`<div class="card narrow"><h1>Device approved</h1><div class="success">Your device will receive its key in a moment. You can close this page.</div></div>`
      : html`<div class="card narrow"><h1>Sign-in denied</h1><div class="notice">No key was created.</div></div>`;
    return sendPage(reply, { title: approve ? 'Approved' : 'Denied', body, user: user(session) });
  });
}
