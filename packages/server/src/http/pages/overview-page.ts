import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';
import { html } from '../html.js';
import { signedIn } from './page-context.js';

/** `/` and `/dashboard`: the organization at a glance, and where to go next. */
export function overviewPage(app: FastifyInstance, ctx: AppContext): void {
  app.get('/', async (req, reply) => reply.redirect((await ctx.auth.session(req)) ? '/dashboard' : '/login', 303));

  app.get('/dashboard', async (req, reply) => {
    const page = await signedIn(ctx, req, reply);
    if (!page) return reply;
    const { activeKeys, monthAllowed: used } = await ctx.usage.overview(page.actor);
    const org = page.session.organization;
    const plan = ctx.config.plans[org.plan];
    // A new organization's first step, until it has a key.
    const firstKey =
      activeKeys === 0
        ? html`<section class="card cta" aria-labelledby="first-h"><h2 id="first-h">Create your first key</h2>
<ol class="steps"><li><a href="/dashboard/keys#create-h">Create a key</a> in the <strong>${ctx.environments.default?.name ?? 'test'}</strong> environment: it is shown once, copy it.</li>
<li>Call your API with <code>Authorization: Bearer ${ctx.environments.default?.prefix ?? 'kw_'}…</code>, or check it with <code>curl -H "Authorization: Bearer &lt;key&gt;" ${ctx.config.publicUrl}/v1/whoami</code>.</li>
<li>Agents need no copy-paste: <code>keyward login --server ${ctx.config.publicUrl}</code> gets one with a single sign-in.</li></ol>
<div class="actions"><a class="button" href="/dashboard/keys#create-h">Create your first key</a></div></section>`
        : '';
    const body = html`<h1>${org.name}</h1><p class="lead">Plan <strong>${org.plan}</strong> · you are <strong>${page.session.member.role}</strong></p>
${firstKey}<div class="grid">
<section class="card"><h2>Active keys</h2><p><strong>${activeKeys}</strong>${plan?.maxActiveKeys ? ` of ${plan.maxActiveKeys}` : ''}</p><a href="/dashboard/keys">Manage keys</a></section>
<section class="card"><h2>Requests this month</h2><p><strong>${used.toLocaleString('en-US')}</strong></p><p class="hint">Limits per key: ${plan?.requestsPerMinute ?? 'unlimited'}/min, ${plan?.monthlyRequests?.toLocaleString('en-US') ?? 'unlimited'}/month.</p></section>
<section class="card"><h2>Agents</h2><p>An agent gets its key with <code>keyward login --server ${ctx.config.publicUrl}</code>: one sign-in, no copy-paste.</p></section>
</div>`;
    return page.render(reply, { title: 'Overview', current: '/dashboard', body });
  });
}
