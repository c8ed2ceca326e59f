import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, bearer, type Harness, startHarness } from './harness.js';

const ORIGIN = 'http://127.0.0.1:8787';
const RESOURCE = 'https://mcp.example.com/mcp';

const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

function formOf(page: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const m of page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
    fields[m[1] as string] = (m[2] as string).replace(/&amp;/g, '&').replace(/&quot;/g, '"');
  return fields;
}

describe('keyward as the authorization server of MCP clients', () => {
  let h: Harness;
  let person: Agent;
  beforeAll(async () => {
    h = await startHarness({ default_plan: 'pro', throttles: { client_registrations: { limit: 5, period_seconds: 3600 } } });
    person = new Agent(h.app);
    await person.signup('mcp-person@example.com');
  });
  afterAll(() => h.close());

  const register = (meta: Record<string, unknown>, ip = '127.0.0.1') =>
    new Agent(h.app).req('POST', '/api/oauth/register', meta, { 'x-test-remote': ip });

  const form = (body: Record<string, string>) =>
    h.app.inject({
      method: 'POST',
      url: '/api/cli/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(body).toString(),
    });

  /** A registered client's code + PKCE sign-in, the person approving: the token endpoint's answer. */
  async function signIn(clientId: string, redirect: string, query: Record<string, string>, token: Record<string, string> = {}) {
    const { verifier, challenge } = pkce();
    const q = {
      response_type: 'code',
      client_id: clientId,
      redirect_uri: redirect,
      state: 'st',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...query,
    };
    const page = await person.req('GET', `/auth/cli?${new URLSearchParams(q)}`, undefined, { accept: 'text/html' });
    expect(page.status, String(page.body).slice(0, 400)).toBe(200);
    const done = await person.req('POST', '/auth/cli', new URLSearchParams({ ...formOf(page.body), decision: 'approve' }).toString(), {
      'content-type': 'application/x-www-form-urlencoded',
      origin: ORIGIN,
    });
    const back = new URL(String(done.headers.location));
    expect(back.searchParams.get('iss')).toBe(ORIGIN); // RFC 9207
    const r = await form({
      grant_type: 'authorization_code',
      code: back.searchParams.get('code') ?? '',
      code_verifier: verifier,
      redirect_uri: redirect,
      client_id: clientId,
      ...token,
    });
    return { status: r.statusCode, body: r.json() };
  }

  it('publishes registration, refresh, metadata documents, iss and resource in its RFC 8414 metadata', async () => {
    const meta = (await new Agent(h.app).req('GET', '/.well-known/oauth-authorization-server')).body;
    expect(meta).toMatchObject({
      issuer: ORIGIN,
      registration_endpoint: `${ORIGIN}/api/oauth/register`,
      client_id_metadata_document_supported: true,
      authorization_response_iss_parameter_supported: true,
      code_challenge_methods_supported: ['S256'],
    });
    expect(meta.grant_types_supported).toContain('refresh_token');
    expect(meta.scopes_supported).toEqual(['read', 'agentic', 'write', 'offline_access']);
  });

  it('registers public clients with loopback or https redirect URIs (RFC 7591), refuses the rest in its words', async () => {
    const ok = await register({
      client_name: 'Claude-ish',
      redirect_uris: ['http://127.0.0.1:5000/cb', 'https://app.example.com/cb'],
      token_endpoint_auth_method: 'none',
    });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({
      client_id: expect.stringMatching(/^mcp_/),
      client_name: 'Claude-ish',
      redirect_uris: ['http://127.0.0.1:5000/cb', 'https://app.example.com/cb'],
      token_endpoint_auth_method: 'none',
      response_types: ['code'],
    });
    expect(typeof ok.body.client_id_issued_at).toBe('number');
    expect(ok.body.client_secret).toBeUndefined();
    for (const [meta, error] of [
      [{ redirect_uris: ['http://evil.example/cb'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['https://x.example/cb#frag'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: [] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['https://x.example/cb'], token_endpoint_auth_method: 'client_secret_basic' }, 'invalid_client_metadata'],
      [{ redirect_uris: ['https://x.example/cb'], grant_types: ['password'] }, 'invalid_client_metadata'],
    ] as const) {
      const r = await register(meta);
      expect([r.status, r.body.error], JSON.stringify(meta)).toEqual([400, error]);
    }
  });

  it('throttles registrations per address', async () => {
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await register({ redirect_uris: ['https://x.example/cb'] }, '10.9.9.9')).status);
    expect(statuses).toEqual([201, 201, 201, 201, 201, 429]);
    expect((await register({ redirect_uris: ['https://x.example/cb'] }, '10.9.9.10')).status).toBe(201);
  });

  it('a registered client returns only to its own redirect URIs (loopback on any port) and its code only works for it', async () => {
    const c = (await register({ client_name: 'pinned', redirect_uris: ['http://127.0.0.1:7000/cb'] })).body;
    const elsewhere = await person.req(
      'GET',
      `/auth/cli?${new URLSearchParams({ client_id: c.client_id, redirect_uri: 'https://evil.example/cb', code_challenge: pkce().challenge, state: 's' })}`,
    );
    expect(elsewhere.status).toBe(400);
    expect(String(elsewhere.body)).toContain('registered redirect URIs');
    const other = (await register({ redirect_uris: ['http://127.0.0.1:7000/cb'] })).body;
    const stolen = await signIn(c.client_id, 'http://127.0.0.1:7123/cb', { scope: 'read' }, { client_id: other.client_id });
    expect([stolen.status, stolen.body.error]).toEqual([400, 'invalid_grant']);
  });

  it('binds the key to the resource asked for (RFC 8707), picks the highest scope asked, names the client as agent', async () => {
    const c = (await register({ client_name: 'bound', redirect_uris: ['http://127.0.0.1:7001/cb'] })).body;
    const r = await signIn(
      c.client_id,
      'http://127.0.0.1:7001/cb',
      { scope: 'read agentic write', resource: RESOURCE },
      { resource: RESOURCE },
    );
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ token_type: 'Bearer', scope: 'write', key: { resource: RESOURCE, agent: c.client_id } });
    expect(r.body.refresh_token).toBeUndefined();
    const verify = (resource: string) => new Agent(h.app).req('POST', '/v1/keys/verify', { key: r.body.access_token, resource });
    expect((await verify(RESOURCE)).body.valid).toBe(true);
    expect((await verify('https://other.example.com/mcp')).body).toMatchObject({ valid: false, code: 'WRONG_RESOURCE' });
    const mismatch = await signIn(
      c.client_id,
      'http://127.0.0.1:7001/cb',
      { scope: 'read', resource: RESOURCE },
      { resource: 'https://other.example.com/mcp' },
    );
    expect([mismatch.status, mismatch.body.error]).toEqual([400, 'invalid_target']);
  });

  it('offline_access: an hour-long key and a single-use refresh token; reusing one revokes its family and its keys', async () => {
    const c = (
      await register({
        client_name: 'offline',
        redirect_uris: ['http://127.0.0.1:7002/cb'],
        grant_types: ['authorization_code', 'refresh_token'],
      })
    ).body;
    const first = await signIn(c.client_id, 'http://127.0.0.1:7002/cb', { scope: 'read offline_access', resource: RESOURCE });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ scope: 'read', expires_in: 3600, refresh_token: expect.stringMatching(/^kwr_/) });
    const refresh = (token: string, clientId = c.client_id) =>
      form({ grant_type: 'refresh_token', refresh_token: token, client_id: clientId });
    const second = await refresh(first.body.refresh_token);
    expect(second.statusCode).toBe(200);
    const s = second.json();
    expect(s.refresh_token).not.toBe(first.body.refresh_token);
    expect(s.key).toMatchObject({ resource: RESOURCE, scope: 'read' });
    const whoami = (key: string) => new Agent(h.app).req('GET', '/v1/whoami', undefined, bearer(key));
    expect((await whoami(first.body.access_token)).status).toBe(401); // replaced by the new key
    expect((await whoami(s.access_token)).status).toBe(200);
    expect((await refresh(s.refresh_token, 'mcp_someone_else')).json().error).toBe('invalid_grant');
    const reused = await refresh(first.body.refresh_token);
    expect([reused.statusCode, reused.json().error]).toEqual([400, 'invalid_grant']);
    expect((await refresh(s.refresh_token)).json().error).toBe('invalid_grant'); // the whole family is gone
    expect((await whoami(s.access_token)).status).toBe(401); // and the key it minted
  });

  it('a client_id that is an https URL is a metadata document: fetched only where the SSRF guard allows, https only', async () => {
    const { challenge } = pkce();
    const q = (clientId: string) =>
      person.req(
        'GET',
        `/auth/cli?${new URLSearchParams({ client_id: clientId, redirect_uri: 'http://127.0.0.1:7003/cb', code_challenge: challenge, state: 's' })}`,
      );
    const local = await q('https://127.0.0.1/client.json');
    expect(local.status).toBe(400);
    expect(String(local.body)).toContain('private or local address');
    const bare = await q('https://example.com/');
    expect(String(bare.body)).toContain('https URL with a path');
  });
});
