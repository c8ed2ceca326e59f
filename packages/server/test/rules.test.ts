import { afterEach, describe, expect, it } from 'vitest';
import { Agent, bearer, type Harness, startHarness } from './harness.js';

/** The findings of the "one place for every rule" review, each reproduced and kept as a test. */
let h: Harness;
afterEach(() => h?.close());

const FIVE = { plans: { five: { requests_per_minute: null, monthly_requests: 5, max_active_keys: 5 } }, default_plan: 'five' };

describe('rotation keeps the plan’s promises (lineage)', () => {
  it('finding: rotating the newest of 5 keys 10 times with a 30-day grace left 15 working keys — now one key in grace per lineage', async () => {
    h = await startHarness(FIVE);
    const a = new Agent(h.app);
    await a.signup('grace@example.com');
    const keys = [];
    for (let i = 0; i < 4; i++) keys.push(await a.createKey({ name: `k${i}` }));
    let head = await a.createKey({ name: 'rotating' });
    // At the limit, a rotation with grace would make a sixth active key: refused, naming the way out.
    const full = await a.req('POST', `/api/developers/keys/${head.id}/rotate`, { grace_period_seconds: 30 * 86_400 });
    expect(full.status).toBe(409);
    expect(full.body.error.message).toMatch(/grace period counts.*grace_period_seconds 0/);
    await a.req('DELETE', `/api/developers/keys/${keys[0]?.id}`);
    const lineage = [head];
    for (let i = 0; i < 10; i++) {
      const r = await a.req('POST', `/api/developers/keys/${head.id}/rotate`, { grace_period_seconds: 30 * 86_400 });
      expect(r.status).toBe(201);
      head = r.body.key;
      lineage.push(head);
    }
    const working = [];
    for (const k of [...keys.slice(1), ...lineage])
      if ((await a.req('GET', '/v1/whoami', undefined, bearer(k.raw_key))).status !== 401) working.push(k.id);
    // 3 other keys + the newest successor + its predecessor in grace
    expect(working).toEqual([...keys.slice(1).map((k) => k.id), lineage[9]?.id, lineage[10]?.id]);
    expect((await a.req('POST', '/api/developers/keys', { name: 'sixth' })).status).toBe(409);
  });

  it('finding: three rotations with grace 0 reset a key’s monthly quota three times — now the lineage shares one quota', async () => {
    h = await startHarness(FIVE);
    const a = new Agent(h.app);
    await a.signup('quota@example.com');
    let key = await a.createKey({ name: 'quota' });
    for (let i = 0; i < 5; i++) expect((await a.req('GET', '/v1/whoami', undefined, bearer(key.raw_key))).status).toBe(200);
    for (let i = 0; i < 3; i++) {
      const r = await a.req('POST', `/api/developers/keys/${key.id}/rotate`, { grace_period_seconds: 0 });
      key = r.body.key;
      const w = await a.req('GET', '/v1/whoami', undefined, bearer(key.raw_key));
      expect(w.status).toBe(429);
      expect(w.body.error.code).toBe('quota_exceeded');
    }
    const usage = await a.req('GET', `/api/developers/keys/${key.id}/usage`);
    expect(usage.body.month).toMatchObject({ limit: 5, used: 5, remaining: 0 });
  });

  it('a key already rotated answers 409: rotate its successor instead', async () => {
    h = await startHarness();
    const a = new Agent(h.app);
    await a.signup('twice@example.com');
    const k = await a.createKey();
    const rotations = await Promise.all(Array.from({ length: 8 }, () => a.req('POST', `/api/developers/keys/${k.id}/rotate`, {})));
    expect(rotations.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
    const listed = (await a.req('GET', '/api/developers/keys')).body.keys;
    expect(listed.filter((x: { rotated_from: string }) => x.rotated_from === k.id)).toHaveLength(1);
  });
  it('a rotated key whose successor was revoked heads its lineage again: it keeps working and rotates again (201)', async () => {
    h = await startHarness();
    const a = new Agent(h.app);
    await a.signup('fallback@example.com');
    const ownExpiry = new Date(Date.now() + 60 * 86_400_000).toISOString();
    const first = await a.createKey({ name: 'fallback', expires_at: ownExpiry });
    const b = (await a.req('POST', `/api/developers/keys/${first.id}/rotate`, { grace_period_seconds: 3600 })).body.key;
    expect((await a.req('DELETE', `/api/developers/keys/${b.id}`)).status).toBe(200);
    expect((await a.req('GET', '/v1/whoami', undefined, bearer(first.raw_key))).status).toBe(200);
    const again = await a.req('POST', `/api/developers/keys/${first.id}/rotate`, { grace_period_seconds: 3600 });
    expect(again.status).toBe(201);
    // the new successor keeps the key's own expiry, not the hour of grace the old key was left with
    expect(Date.parse(again.body.key.expires_at)).toBe(Date.parse(ownExpiry));
    expect(Date.parse(again.body.previous.expires_at)).toBeLessThanOrEqual(Date.now() + 3600_000);
    expect((await a.req('GET', '/v1/whoami', undefined, bearer(again.body.key.raw_key))).status).toBe(200);
    // with a successor that stands, the old key is no longer the one to rotate
    const third = await a.req('POST', `/api/developers/keys/${first.id}/rotate`, {});
    expect(third.status).toBe(409);
    expect(third.body.error.message).toBe('This key was already rotated; rotate its successor instead.');
  });
});

describe('who may do what', () => {
  it('finding: a read member got 201 for an admin key — now 403 naming the allowed scope, and a read key by default', async () => {
    h = await startHarness();
    const owner = new Agent(h.app);
    await owner.signup('owner@example.com');
    const inv = await owner.req('POST', '/api/org/members', { email: 'reader@example.com', role: 'read' });
    const reader = new Agent(h.app);
    await reader.signup('reader@example.com', { invite_token: inv.body.invite_token });
    const asked = await reader.req('POST', '/api/developers/keys', { name: 'r', scope: 'admin' });
    expect(asked.status).toBe(403);
    expect(asked.body.error).toMatchObject({ allowed_scope: 'read', requested_scope: 'admin' });
    expect(asked.body.error.message).toContain('scope read at most');
    const made = await reader.createKey({ name: 'r' });
    expect(made.scope).toBe('read');
    // Promoting the member later does not enlarge the key: it was stored as read.
    await owner.req('PATCH', `/api/org/members/${inv.body.member.id}`, { role: 'admin' });
    expect((await owner.req('GET', `/api/developers/keys/${made.id}`)).body.key.scope).toBe('read');
  });

  it('the dashboard shows a member the controls can() allows them: members, webhooks and key scopes by role', async () => {
    h = await startHarness();
    const owner = new Agent(h.app);
    await owner.signup('pages-owner@example.com');
    const inv = await owner.req('POST', '/api/org/members', { email: 'pages-writer@example.com', role: 'write' });
    const writer = new Agent(h.app);
    await writer.signup('pages-writer@example.com', { invite_token: inv.body.invite_token });
    const page = (agent: Agent, path: string) => agent.req('GET', path, undefined, { accept: 'text/html' });

    const ownersMembers = (await page(owner, '/dashboard/members')).body as string;
    expect(ownersMembers).toContain('Change role');
    expect(ownersMembers).toContain('Invite someone');
    expect(ownersMembers).toContain('/remove');
    const writersMembers = (await page(writer, '/dashboard/members')).body as string;
    expect(writersMembers).not.toContain('Change role');
    expect(writersMembers).not.toContain('Invite someone');
    expect(writersMembers).not.toContain('/remove');

    expect((await page(owner, '/dashboard/webhooks')).status).toBe(200);
    const refused = await page(writer, '/dashboard/webhooks');
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('Only admins manage webhooks.');

    const ownersKeys = (await page(owner, '/dashboard/keys')).body as string;
    expect(ownersKeys).toContain('name="scope" value="admin"');
    expect(ownersKeys).not.toContain('your keys can do at most what you can');
    const writersKeys = (await page(writer, '/dashboard/keys')).body as string;
    expect(writersKeys).not.toContain('name="scope" value="admin"');
    expect(writersKeys).toContain('Your role is write: your keys can do at most what you can.');
  });

  it('finding: the default scope was write in the API and agentic in the dashboard — now one default, capped at the role', async () => {
    h = await startHarness();
    const a = new Agent(h.app);
    await a.signup('default@example.com');
    expect((await a.createKey()).scope).toBe('write');
    const page = await a.req('GET', '/dashboard/keys', undefined, { accept: 'text/html' });
    expect(page.body).toMatch(/name="scope" value="write" checked/);
  });

  it('finding: a read key could not revoke itself — now any key may revoke itself, and nothing else', async () => {
    h = await startHarness();
    const a = new Agent(h.app);
    await a.signup('self@example.com');
    const other = await a.createKey({ name: 'other' });
    const k = await a.createKey({ name: 'reader', scope: 'read' });
    const anon = new Agent(h.app);
    expect((await anon.req('DELETE', `/api/developers/keys/${other.id}`, undefined, bearer(k.raw_key))).status).toBe(403);
    expect((await anon.req('DELETE', `/api/developers/keys/${k.id}`, undefined, bearer(k.raw_key))).status).toBe(200);
    expect((await anon.req('GET', '/v1/whoami', undefined, bearer(k.raw_key))).status).toBe(401);
  });

  it('an admin key manages keys of its own environment only', async () => {
    h = await startHarness();
    const a = new Agent(h.app);
    await a.signup('envs@example.com');
    const testAdmin = await a.createKey({ name: 'test-admin', scope: 'admin', environment: 'test' });
    const live = await a.createKey({ name: 'live', environment: 'live' });
    const anon = new Agent(h.app);
    const r = await anon.req('DELETE', `/api/developers/keys/${live.id}`, undefined, bearer(testAdmin.raw_key));
    expect(r.status).toBe(403);
    expect(r.body.error.message).toBe('Your API key does not have permission to perform this action.');
    expect(r.body.error.hint).toContain('own environment (test)');
    const made = await anon.req('POST', '/api/developers/keys', { name: 'x', environment: 'live' }, bearer(testAdmin.raw_key));
    expect(made.status).toBe(403);
    expect((await anon.req('POST', '/api/developers/keys', { name: 'x' }, bearer(testAdmin.raw_key))).body.key.environment).toBe('test');
  });

  it('finding: the CSRF check trusted Host — a cookie POST with Host and Origin both evil.example is refused', async () => {
    h = await startHarness();
    const a = new Agent(h.app);
    await a.signup('csrf@example.com');
    const r = await a.req('POST', '/api/developers/keys', { name: 'x' }, { host: 'evil.example', origin: 'http://evil.example' });
    expect(r.status).toBe(403);
  });
});

describe('dashboard writes follow POST-redirect-GET', () => {
  async function keysForm(a: Agent) {
    const page = await a.req('GET', '/dashboard/keys', undefined, { accept: 'text/html' });
    const text = String(page.body);
    return {
      csrf: /name="csrf" value="([^"]+)"/.exec(text)?.[1] ?? '',
      token: /name="form_token" value="([^"]+)"/.exec(text)?.[1] ?? '',
    };
  }
  const post = (a: Agent, path: string, fields: Record<string, string>) =>
    a.req('POST', path, new URLSearchParams(fields).toString(), {
      'content-type': 'application/x-www-form-urlencoded',
      origin: 'http://127.0.0.1:8787',
      accept: 'text/html',
    });

  it('finding: reloading the page that showed a new key made a second key — now the same post redirects to the first result, secret shown once', async () => {
    h = await startHarness();
    const a = new Agent(h.app);
    await a.signup('prg@example.com');
    const { csrf, token } = await keysForm(a);
    const fields = { csrf, form_token: token, name: 'laptop <b>1</b>', scope: 'read', environment: 'test' };
    const first = await post(a, '/dashboard/keys', fields);
    expect(first.status).toBe(303);
    const shownAt = String(first.headers.location);
    expect(shownAt).toMatch(/^\/dashboard\/keys\?environment=test&shown=frm_/);
    const shown = await a.req('GET', shownAt, undefined, { accept: 'text/html' });
    const raw = /value="(kw_test_[0-9A-Za-z]+)"/.exec(String(shown.body))?.[1];
    expect(raw).toBeDefined();
    expect(shown.headers['cache-control']).toBe('no-store');
    expect(String(shown.body)).toContain('laptop &lt;b&gt;1&lt;/b&gt;');
    // reload of the result page: no secret; the same post again: no second key, no secret
    expect(String((await a.req('GET', shownAt, undefined, { accept: 'text/html' })).body)).not.toContain(raw as string);
    const again = await post(a, '/dashboard/keys', fields);
    expect(again.status).toBe(303);
    expect(again.headers.location).toBe('/dashboard/keys?environment=test');
    expect((await a.req('GET', '/api/developers/keys')).body.keys).toHaveLength(1);
  });

  it('a form posted again after its token expired acts no more (refused), and a secret not picked up in 15 minutes is gone', async () => {
    h = await startHarness();
    const a = new Agent(h.app);
    await a.signup('late@example.com');
    const { csrf, token } = await keysForm(a);
    const fields = { csrf, form_token: token, name: 'late', scope: 'read', environment: 'test' };
    const first = await post(a, '/dashboard/keys', fields);
    h.clock.advance(16 * 60_000);
    const late = await a.req('GET', String(first.headers.location), undefined, { accept: 'text/html' });
    expect(String(late.body)).not.toMatch(/value="kw_test_/);
    h.clock.advance(13 * 3_600_000);
    await h.keyward.store.pruneExpired(h.clock.now());
    const resent = await post(a, '/dashboard/keys', fields);
    expect(resent.status).toBe(400);
    expect(String(resent.body)).toContain('This form has expired');
    expect((await a.req('GET', '/api/developers/keys')).body.keys).toHaveLength(1);
  });

  it('finding: re-sending an invitation answered 409 and forms turned unknown roles into read — now a redirect, and a 400', async () => {
    h = await startHarness();
    const a = new Agent(h.app);
    await a.signup('inviter@example.com');
    const { csrf, token } = await keysForm(a);
    const fields = { csrf, form_token: token, email: 'new@example.com', role: 'write' };
    const first = await post(a, '/dashboard/members', fields);
    expect(first.status).toBe(303);
    expect(String((await a.req('GET', String(first.headers.location), undefined, { accept: 'text/html' })).body)).toContain(
      'invite_token=',
    );
    const again = await post(a, '/dashboard/members', fields);
    expect(again.status).toBe(303);
    expect(again.headers.location).toBe('/dashboard/members');
    const second = await keysForm(a);
    const bad = await post(a, '/dashboard/members', { csrf: second.csrf, form_token: second.token, email: 'x@example.com', role: 'owner' });
    expect(bad.status).toBe(400);
    expect((await a.req('GET', '/api/org/members')).body.members.map((m: { email: string }) => m.email)).not.toContain('x@example.com');
  });
});

describe('framework errors in the shape of the part they hit', () => {
  it('finding: 414 and bad URLs answered in Fastify’s own shape — now the envelope on the API, a page on the dashboard', async () => {
    h = await startHarness();
    const a = new Agent(h.app);
    await a.signup('fw@example.com');
    const long = await a.req('GET', `/api/developers/keys/${'x'.repeat(3000)}`);
    expect(long.status).toBe(414);
    expect(long.body.error.code).toBe('uri_too_long');
    const badUrl = await a.req('GET', '/api/developers/keys/%E0%A4%A');
    expect(badUrl.status).toBe(400);
    expect(badUrl.body.error.code).toBe('invalid_request');
    const page = await a.req('GET', `/dashboard/keys/${'x'.repeat(3000)}`, undefined, { accept: 'text/html' });
    expect(page.status).toBe(414);
    expect(String(page.body)).toContain('<html');
  });

  it('finding: the OAuth endpoints answered malformed bodies with the keyward envelope — now OAuth’s shape', async () => {
    h = await startHarness();
    const a = new Agent(h.app);
    for (const path of ['/api/cli/token', '/api/device/token', '/api/device/code']) {
      const r = await a.req('POST', path, '{"a":', { 'content-type': 'application/json' });
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ error: 'invalid_request' });
      expect(typeof r.body.error_description).toBe('string');
    }
    const big = await a.req('POST', '/api/cli/token', JSON.stringify({ code: 'a'.repeat(100_000) }));
    expect(big.status).toBe(413);
    expect(big.body.error).toBe('invalid_request');
  });

  it('the OAuth endpoints are the routes of the OAuth plugin, no list: they answer and document OAuth’s shape, what no route takes the envelope', async () => {
    h = await startHarness();
    const a = new Agent(h.app);
    const oauthPaths = [
      '/api/cli/token',
      '/api/oauth/token',
      '/api/device/token',
      '/api/device/code',
      '/api/oauth/register',
      '/api/oauth/bc-authorize',
    ];
    for (const path of oauthPaths) {
      expect((await a.req('POST', path, '{"a":', { 'content-type': 'application/json' })).body).toEqual({
        error: 'invalid_request',
        error_description: 'The request body is not valid JSON.',
      });
      // Another method, or a bad percent-encoding, is no OAuth endpoint: the JSON API's envelope.
      expect((await a.req('GET', path)).body.error).toMatchObject({ code: 'not_found' });
      expect((await a.req('POST', `${path}%zz`, {})).body.error).toMatchObject({ code: 'invalid_request' });
    }
    const paths = (await a.req('GET', '/openapi.json')).body.paths as Record<
      string,
      Record<string, { responses: { default: { content: Record<string, { schema: { $ref: string } }> } } }>
    >;
    const documented = Object.entries(paths).flatMap(([path, methods]) =>
      Object.values(methods).map((m) => [path, m.responses.default.content['application/json']?.schema.$ref] as const),
    );
    const speaksOAuth = documented.filter(([, ref]) => ref === '#/components/schemas/OAuthError').map(([path]) => path);
    expect(speaksOAuth.sort()).toEqual([...oauthPaths, '/.well-known/oauth-authorization-server'].sort());
    expect(
      documented.filter(([, ref]) => ref !== '#/components/schemas/OAuthError').every(([, ref]) => ref === '#/components/schemas/Error'),
    ).toBe(true);
  });
});

describe('the key-name rule, everywhere a name is made', () => {
  it('finding: a derived key’s default name was cut at 100 UTF-16 units and could end in half an emoji — now between characters', async () => {
    h = await startHarness({ default_plan: 'business' });
    const a = new Agent(h.app);
    await a.signup('emoji-names@example.com');
    const parent = await a.createKey({ name: '🔑'.repeat(100) });
    const child = await new Agent(h.app).req('POST', '/v1/keys/derive', { agent: 'bot', scope: 'read' }, bearer(parent.raw_key));
    expect(child.status).toBe(201);
    const name: string = child.body.key.name;
    expect(name).toBe(`bot of ${'🔑'.repeat(93)}`);
    expect(/[\ud800-\udbff]$/.test(name)).toBe(false);
  });
});
