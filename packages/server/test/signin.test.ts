import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent, bearer, type Harness, startHarness } from './harness.js';

let h: Harness;
afterEach(() => h?.close());

const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};
const CALLBACK = 'http://127.0.0.1:43111/callback';

/** The consent page's form, as a browser would submit it. */
function formOf(page: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const m of page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
    fields[m[1] as string] = (m[2] as string).replace(/&amp;/g, '&').replace(/&quot;/g, '"');
  return fields;
}

async function signedIn(config?: unknown) {
  h = await startHarness(config);
  const a = new Agent(h.app);
  await a.signup('agent-owner@example.com');
  return a;
}

async function approve(a: Agent, query: Record<string, string>, decision = 'approve', picked: Record<string, string> = {}) {
  const page = await a.req('GET', `/auth/cli?${new URLSearchParams(query)}`, undefined, { accept: 'text/html' });
  expect(page.status).toBe(200);
  const body = new URLSearchParams({ ...formOf(page.body), ...picked, decision }).toString();
  return a.req('POST', '/auth/cli', body, { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://127.0.0.1:8787' });
}

describe('loopback sign-in with PKCE', () => {
  it('a read member approving a sign-in that asks for write is told on the consent page, and no code is issued', async () => {
    const owner = await signedIn();
    const inv = await owner.req('POST', '/api/org/members', { email: 'viewer@example.com', role: 'read' });
    const viewer = new Agent(h.app);
    await viewer.signup('viewer@example.com', { invite_token: inv.body.invite_token });
    const { challenge } = pkce();
    const base = { callback_url: CALLBACK, state: 's'.repeat(32), code_challenge: challenge, code_challenge_method: 'S256' };
    const refused = await approve(viewer, { ...base, scope: 'write' });
    expect(refused.status).toBe(403);
    expect(refused.headers.location).toBeUndefined();
    expect(String(refused.body)).toContain('scope read at most');
    const allowed = await approve(viewer, base);
    expect(String(allowed.headers.location)).toMatch(/^http:\/\/127\.0\.0\.1:43111\/callback\?code=/);
  });

  it('refuses any callback that is not loopback with a 400 page and no redirect, before asking anyone to sign in', async () => {
    h = await startHarness();
    const anon = new Agent(h.app);
    for (const cb of [
      'https://evil.example/cb',
      'http://127.0.0.1.evil.example/cb',
      'http://10.0.0.1:8080/cb',
      'javascript:alert(1)',
      'http://127.0.0.1/cb',
      'http://user@127.0.0.1:9/cb',
    ]) {
      const r = await anon.req(
        'GET',
        `/auth/cli?${new URLSearchParams({ callback_url: cb, state: 's'.repeat(32), code_challenge: 'c'.repeat(43), code_challenge_method: 'S256' })}`,
      );
      expect(r.status, cb).toBe(400);
      expect(r.headers.location, cb).toBeUndefined();
    }
  });

  it('sends a person who is not signed in to the sign-in page and back', async () => {
    h = await startHarness();
    const { challenge } = pkce();
    const path = `/auth/cli?${new URLSearchParams({ callback_url: CALLBACK, state: 'st', code_challenge: challenge })}`;
    const r = await new Agent(h.app).req('GET', path);
    expect(r.status).toBe(303);
    expect(r.headers.location).toBe(`/login?next=${encodeURIComponent(path)}`);
  });

  it('shows what will be created, escaped, under a CSP that lets the form go only to us and the callback', async () => {
    const a = await signedIn();
    const { challenge } = pkce();
    const page = await a.req(
      'GET',
      `/auth/cli?${new URLSearchParams({ callback_url: CALLBACK, state: 'st', code_challenge: challenge, name: '<b>bot</b>', client_id: 'my-mcp-client' })}`,
    );
    expect(page.body).toContain('&lt;b&gt;bot&lt;/b&gt;');
    expect(page.body).not.toContain('<b>bot</b>');
    expect(page.body).toContain('my-mcp-client');
    expect(page.body).toContain('port 43111');
    expect(page.headers['content-security-policy']).toContain("form-action 'self' http://127.0.0.1:43111");
    expect(page.headers['cache-control']).toBe('no-store');
    // With no-referrer, Chromium sends `Origin: null` on form posts and the same-origin check would refuse our own forms.
    expect(page.headers['referrer-policy']).toBe('same-origin');
  });

  it('approve → a one-time code and the state on the callback; exchange with the verifier → the key, once', async () => {
    const a = await signedIn();
    const { verifier, challenge } = pkce();
    const r = await approve(a, {
      callback_url: CALLBACK,
      state: 'state-123',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      environment: 'live',
      name: 'billing-agent',
      scope: 'agentic',
    });
    expect(r.status).toBe(303);
    const loc = new URL(r.headers.location as string);
    expect(`${loc.origin}${loc.pathname}`).toBe(CALLBACK);
    expect(loc.searchParams.get('state')).toBe('state-123');
    const code = loc.searchParams.get('code') as string;
    expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(r.headers.location).not.toMatch(/kw_(test|live)_/);

    const anon = new Agent(h.app);
    const t = await anon.req('POST', '/api/cli/token', { code, code_verifier: verifier, redirect_uri: CALLBACK });
    expect(t.status).toBe(200);
    expect(t.headers['cache-control']).toBe('no-store');
    expect(t.body).toMatchObject({ token_type: 'Bearer', scope: 'agentic', key: { name: 'billing-agent', environment: 'live' } });
    expect(t.body.access_token).toMatch(/^kw_live_/);
    expect((await anon.req('GET', '/v1/whoami', undefined, bearer(t.body.access_token))).body.scope).toBe('agentic');

    const replay = await anon.req('POST', '/api/cli/token', { code, code_verifier: verifier });
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe('invalid_grant');
  });

  it('refuses a wrong verifier, a wrong redirect_uri and an expired code, in OAuth’s error shape', async () => {
    const a = await signedIn();
    const codeFor = async () => {
      const p = pkce();
      const r = await approve(a, { callback_url: CALLBACK, state: 's', code_challenge: p.challenge });
      return { ...p, code: new URL(r.headers.location as string).searchParams.get('code') as string };
    };
    const anon = new Agent(h.app);
    const one = await codeFor();
    expect((await anon.req('POST', '/api/cli/token', { code: one.code, code_verifier: pkce().verifier })).body).toMatchObject({
      error: 'invalid_grant',
      error_description: expect.stringMatching(/code_verifier/),
    });
    const two = await codeFor();
    expect(
      (
        await anon.req('POST', '/api/cli/token', {
          code: two.code,
          code_verifier: two.verifier,
          redirect_uri: 'http://127.0.0.1:1/callback',
        })
      ).body.error,
    ).toBe('invalid_grant');
    const three = await codeFor();
    h.clock.advance(2 * 60_000 + 1);
    expect((await anon.req('POST', '/api/cli/token', { code: three.code, code_verifier: three.verifier })).body).toMatchObject({
      error: 'invalid_grant',
      error_description: expect.stringMatching(/expired/),
    });
    expect((await anon.req('POST', '/api/cli/token', { code: 'bogus', code_verifier: 'v'.repeat(43) })).status).toBe(400);
    expect((await anon.req('POST', '/api/cli/token', { grant_type: 'password' })).body.error).toBe('unsupported_grant_type');
  });

  it('speaks OAuth as written: form-encoded token requests, redirect_uri and response_type accepted', async () => {
    const a = await signedIn();
    const { verifier, challenge } = pkce();
    const r = await approve(a, {
      response_type: 'code',
      client_id: 'oauth4webapi',
      redirect_uri: CALLBACK,
      state: 'x',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const code = new URL(r.headers.location as string).searchParams.get('code') as string;
    const form = new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      redirect_uri: CALLBACK,
    }).toString();
    const t = await new Agent(h.app).req('POST', '/api/cli/token', form, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(t.status).toBe(200);
    expect(t.body.access_token).toMatch(/^kw_test_/);
    const meta = await new Agent(h.app).req('GET', '/.well-known/oauth-authorization-server');
    expect(meta.body).toMatchObject({
      issuer: 'http://127.0.0.1:8787',
      authorization_endpoint: 'http://127.0.0.1:8787/auth/cli',
      token_endpoint: 'http://127.0.0.1:8787/api/cli/token',
      device_authorization_endpoint: 'http://127.0.0.1:8787/api/device/code',
      code_challenge_methods_supported: ['S256'],
      grant_types_supported: [
        'authorization_code',
        'refresh_token',
        'urn:ietf:params:oauth:grant-type:device_code',
        'urn:ietf:params:oauth:grant-type:token-exchange',
        'urn:openid:params:grant-type:ciba',
      ],
    });
  });

  it('deny → error=access_denied on the callback; a form without the CSRF token or from elsewhere is refused', async () => {
    const a = await signedIn();
    const { challenge } = pkce();
    const denied = await approve(a, { callback_url: CALLBACK, state: 'd', code_challenge: challenge }, 'deny');
    expect(new URL(denied.headers.location as string).searchParams.get('error')).toBe('access_denied');
    const forged = new URLSearchParams({
      callback_url: CALLBACK,
      state: 'd',
      code_challenge: challenge,
      decision: 'approve',
      csrf: 'nope',
    }).toString();
    const r = await a.req('POST', '/auth/cli', forged, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(r.status).toBe(403);
    expect(r.headers.location).toBeUndefined();
  });

  it('offers the direct-key redirect only when configured (Nevermined’s ?nvm_api_key=)', async () => {
    const off = await signedIn();
    expect((await off.req('GET', `/auth/cli?callback_url=${encodeURIComponent(CALLBACK)}`)).status).toBe(400);
    await h.close();
    const a = await signedIn({
      default_plan: 'free',
      agent_sign_in: { direct_key_param: 'nvm_api_key' },
      environments: [{ name: 'sandbox', prefix: 'sandbox:' }],
    });
    const r = await approve(a, { callback_url: `${CALLBACK}?state=abc` });
    const loc = new URL(r.headers.location as string);
    expect(loc.searchParams.get('state')).toBe('abc');
    expect(loc.searchParams.get('nvm_api_key')).toMatch(/^sandbox:/);
    expect(r.headers['referrer-policy']).toBe('no-referrer');
  });
});

describe('device flow (RFC 8628)', () => {
  it('pending → slow_down when polled too fast → approved on /device → the key once', async () => {
    const a = await signedIn({ default_plan: 'free', agent_sign_in: { device_interval_seconds: 5 } });
    const anon = new Agent(h.app);
    const start = await anon.req('POST', '/api/device/code', 'client_id=robot&environment=live&name=ci-robot', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(start.body).toMatchObject({
      user_code: expect.stringMatching(/^[B-Z]{4}-[B-Z]{4}$/),
      verification_uri: 'http://127.0.0.1:8787/device',
      interval: 5,
      expires_in: 600,
    });
    const poll = () =>
      anon.req('POST', '/api/device/token', {
        grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
        device_code: start.body.device_code,
      });
    expect((await poll()).body.error).toBe('authorization_pending');
    expect((await poll()).body.error).toBe('slow_down');
    h.clock.advance(5000);
    expect((await poll()).body.error).toBe('authorization_pending');

    const page = await a.req('GET', `/device?user_code=${start.body.user_code.toLowerCase().replace('-', '')}`);
    expect(page.body).toContain('ci-robot');
    const form = new URLSearchParams({ ...formOf(page.body), decision: 'approve' }).toString();
    const done = await a.req('POST', '/device', form, {
      'content-type': 'application/x-www-form-urlencoded',
      origin: 'http://127.0.0.1:8787',
    });
    expect(done.body).toContain('Device approved');

    h.clock.advance(5000);
    const t = await poll();
    expect(t.status).toBe(200);
    expect(t.body.access_token).toMatch(/^kw_live_/);
    h.clock.advance(5000);
    expect((await poll()).body.error).toBe('invalid_grant');
  });

  it('denied → access_denied; expired → expired_token; unknown user codes are refused', async () => {
    const a = await signedIn();
    const anon = new Agent(h.app);
    const one = await anon.req('POST', '/api/device/code', {});
    const page = await a.req('GET', `/device?user_code=${one.body.user_code}`);
    await a.req('POST', '/device', new URLSearchParams({ ...formOf(page.body), decision: 'deny' }).toString(), {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect((await anon.req('POST', '/api/device/token', { device_code: one.body.device_code })).body.error).toBe('access_denied');
    const two = await anon.req('POST', '/api/device/code', {});
    h.clock.advance(10 * 60_000 + 1);
    expect((await anon.req('POST', '/api/device/token', { device_code: two.body.device_code })).body.error).toBe('expired_token');
    expect((await a.req('GET', '/device?user_code=BBBB-BBBB')).status).toBe(400);
  });
});

describe('sign-in pages', () => {
  it('signs in through the form and returns only to same-site paths (no open redirect)', async () => {
    h = await startHarness();
    await new Agent(h.app).signup('page@example.com');
    const b = new Agent(h.app);
    const form = (next: string) => new URLSearchParams({ email: 'page@example.com', password: 'correct horse battery 9', next }).toString();
    const ok = await b.req('POST', '/login', form('/device'), {
      'content-type': 'application/x-www-form-urlencoded',
      origin: 'http://127.0.0.1:8787',
    });
    expect(ok.status).toBe(303);
    expect(ok.headers.location).toBe('/device');
    for (const evil of ['//evil.example', 'https://evil.example', '/\\evil.example']) {
      const r = await new Agent(h.app).req('POST', '/login', form(evil), { 'content-type': 'application/x-www-form-urlencoded' });
      expect(r.headers.location, evil).toBe('/');
    }
    const foreign = await new Agent(h.app).req('POST', '/login', form('/'), {
      'content-type': 'application/x-www-form-urlencoded',
      origin: 'https://evil.example',
    });
    expect(foreign.status).toBe(403);
    const wrong = await new Agent(h.app).req(
      'POST',
      '/login',
      new URLSearchParams({ email: 'page@example.com', password: 'nope' }).toString(),
      { 'content-type': 'application/x-www-form-urlencoded' },
    );
    expect(wrong.status).toBe(401);
    expect(wrong.body).toContain('Incorrect e-mail address or password.');
  });
});

describe('the consent page: who asks, and for how much', () => {
  const consent = async (a: Agent, query: Record<string, string>) =>
    String((await a.req('GET', `/auth/cli?${new URLSearchParams(query)}`, undefined, { accept: 'text/html' })).body);
  const radios = (page: string) =>
    [...page.matchAll(/<input type="radio" name="key_scope" value="(\w+)" required( checked)?>/g)].map((m) => `${m[1]}${m[2] ? '*' : ''}`);
  const base = () => ({ callback_url: CALLBACK, state: 's'.repeat(32), code_challenge: pkce().challenge, code_challenge_method: 'S256' });

  it("finding: keyward's own CLI was shown as an unverified application; now it is named as keyward's own program, and other names keep the warning", async () => {
    const a = await signedIn();
    const own = await consent(a, { ...base(), client_id: 'keyward-cli' });
    expect(own).not.toMatch(/not verified/);
    expect(own).toContain('keyward CLI');
    expect(own).toContain('keyward login command');
    for (const stranger of ['some-agent', 'keyward-cli-2', 'constructor']) {
      expect(await consent(a, { ...base(), client_id: stranger }), stranger).toMatch(
        /not verified: keyward cannot tell which program uses this name/,
      );
    }
  });

  it('the person picks a lower scope than asked: the key gets it; a scope above the one asked is refused', async () => {
    const a = await signedIn();
    const { verifier, challenge } = pkce();
    const query = { ...base(), code_challenge: challenge, scope: 'write', client_id: 'keyward-cli' };
    expect(radios(await consent(a, query))).toEqual(['read', 'agentic', 'write*']);
    const r = await approve(a, query, 'approve', { key_scope: 'read' });
    const code = new URL(r.headers.location as string).searchParams.get('code') as string;
    const t = await new Agent(h.app).req('POST', '/api/cli/token', { code, code_verifier: verifier, redirect_uri: CALLBACK });
    expect(t.body.scope).toBe('read');
    expect((await a.req('GET', '/v1/whoami', undefined, bearer(t.body.access_token))).body.scope).toBe('read');

    const above = await approve(a, query, 'approve', { key_scope: 'admin' });
    expect(above.status).toBe(400);
    expect(above.headers.location).toBeUndefined();
    expect(String(above.body)).toContain('asked for write');
  });

  it('nothing asked: the default scope is checked; a read member is offered read only and picks it knowingly', async () => {
    const owner = await signedIn();
    expect(radios(await consent(owner, base()))).toEqual(['read', 'agentic', 'write*']);
    const inv = await owner.req('POST', '/api/org/members', { email: 'picker@example.com', role: 'read' });
    const reader = new Agent(h.app);
    await reader.signup('picker@example.com', { invite_token: inv.body.invite_token });
    // asked for write, above the role: read is offered and nothing is checked for them
    expect(radios(await consent(reader, { ...base(), scope: 'write' }))).toEqual(['read']);
    const refused = await approve(reader, { ...base(), scope: 'write' }, 'approve', { key_scope: 'agentic' });
    expect(refused.status).toBe(403);
    const picked = await approve(reader, { ...base(), scope: 'write' }, 'approve', { key_scope: 'read' });
    expect(String(picked.headers.location)).toMatch(/^http:\/\/127\.0\.0\.1:43111\/callback\?code=/);
  });
});
