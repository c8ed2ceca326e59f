import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { generateKey } from '@keyward/core';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpAgent } from '../../../test-support/http-agent.js';
import { createKeyward, defineConfig, inProcessVerifier, type Keyward, sqliteStore } from '../../server/src/index.js';
import type { ProtectOptions } from '../src/protect.js';
import { remoteVerifier } from '../src/remote-verifier.js';
import { expressApi, fastifyApi, honoApi, type RunningApi } from './apis.js';

/** One keyward server, real over HTTP, whose keys the APIs below are protected by. */
let keyward: Keyward;
let server: string;

/** The remote verifier's operator-level credential: with it the server checks the client address this API saw. */
const VERIFIER_CREDENTIAL = 'kwv_policy-suite-verifier-credential';

beforeAll(async () => {
  const config = defineConfig(
    {
      verifier_credentials: [{ name: 'policy suite', sha256: createHash('sha256').update(VERIFIER_CREDENTIAL).digest('hex') }],
      environments: [
        { name: 'test', prefix: 'kw_test_', base_url: 'https://api.test.example.com' },
        { name: 'live', prefix: 'kw_live_', base_url: 'https://api.live.example.com' },
      ],
    },
    { host: '127.0.0.1', port: 0, dataDir: '/nonexistent', databaseUrl: null, redisUrl: null, secret: 'policy-suite-secret-0123456789' },
  );
  keyward = await createKeyward(config, { store: sqliteStore(':memory:'), logger: pino({ level: 'silent' }) });
  await keyward.app.listen({ port: 0, host: '127.0.0.1' });
  server = `http://127.0.0.1:${(keyward.app.server.address() as AddressInfo).port}`;
});
afterAll(() => keyward.close());

async function call(base: string, method: string, path: string, key?: string, headers: Record<string, string> = {}) {
  const res = await fetch(base + path, { method, headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers } });
  return { status: res.status, body: (await res.json()) as any, headers: res.headers };
}

type Variant = [string, (o: ProtectOptions) => Promise<RunningApi>, () => ProtectOptions['verifier']];
const variants: Variant[] = [
  ['Fastify, in-process', fastifyApi, () => inProcessVerifier(keyward)],
  ['Express, in-process', expressApi, () => inProcessVerifier(keyward)],
  ['Hono, in-process', honoApi, () => inProcessVerifier(keyward)],
  ['Fastify, remote verify endpoint', fastifyApi, () => remoteVerifier({ baseUrl: server, credential: VERIFIER_CREDENTIAL })],
];

describe.each(variants)('the access policy through %s', (_name, start, verifier) => {
  let api: RunningApi;
  let liveApi: RunningApi;
  let admin: HttpAgent;
  beforeAll(async () => {
    api = await start({ verifier: verifier(), environment: 'test' });
    liveApi = await start({ verifier: verifier(), environment: 'live' });
    admin = await HttpAgent.newAccount(server, `admin-${Math.random().toString(36).slice(2)}@example.com`);
  });
  afterAll(async () => {
    await api.close();
    await liveApi.close();
  });

  it('no key: 401 with Nuvion’s exact message, reason missing, and WWW-Authenticate', async () => {
    const r = await call(api.base, 'GET', '/things');
    expect(r.status).toBe(401);
    expect(r.body).toEqual({ error: { code: 'unauthorized', message: 'No valid API key provided.', reason: 'missing' } });
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('finding: every 401 said the same whether the key was missing, malformed, mistyped or unknown; error.reason tells them apart', async () => {
    const key = await admin.newKey({ scope: 'read' });
    const mistyped = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
    // Well-formed, checksum right, never issued: only storage can tell, and it says "unknown", nothing more.
    const unknown = generateKey({ name: 'test', prefix: 'kw_test_' });
    const reasons: [string | undefined, string][] = [
      [undefined, 'missing'],
      ['kw_test_short', 'malformed'],
      ['sk_live_0123456789abcdefghijklmnopqrstuvwxyzABCD', 'malformed'],
      [mistyped, 'bad_checksum'],
      [unknown, 'unknown'],
    ];
    for (const [k, reason] of reasons) {
      const r = await call(api.base, 'GET', '/things', k);
      expect(r.status, String(k)).toBe(401);
      expect(r.body.error, String(k)).toEqual({ code: 'unauthorized', message: 'No valid API key provided.', reason });
    }
  });

  it('a read key: GET 200, POST 403 with Nuvion’s forbidden body', async () => {
    const key = await admin.newKey({ scope: 'read' });
    const get = await call(api.base, 'GET', '/things', key);
    expect(get.status).toBe(200);
    expect(get.body.key).toMatchObject({ scope: 'read', environment: 'test' });
    expect(get.headers.get('ratelimit-limit')).toBeNull(); // unlimited default plan
    const post = await call(api.base, 'POST', '/things', key);
    expect(post.status).toBe(403);
    expect(post.body).toEqual({
      error: {
        code: 'forbidden',
        message: 'Your API key does not have permission to perform this action.',
        reason: 'insufficient_scope',
        required_scope: 'write',
        key_scope: 'read',
      },
    });
  });

  it("a route that costs 5 credits spends them from the key's budget, says what is left, and answers 402 when it is spent", async () => {
    const key = await admin.newKey({ scope: 'read', budget: 12 });
    const first = await call(api.base, 'GET', '/expensive', key);
    expect([first.status, first.headers.get('budget-remaining')]).toEqual([200, '7']);
    expect((await call(api.base, 'GET', '/expensive', key)).headers.get('budget-remaining')).toBe('2');
    const spent = await call(api.base, 'GET', '/expensive', key);
    expect(spent.status).toBe(402);
    expect(spent.body.error).toMatchObject({ code: 'budget_exhausted', reason: 'budget_exhausted' });
    expect(spent.headers.get('budget-remaining')).toBe('2');
    const cheap = await call(api.base, 'GET', '/things', key); // the default cost, 1
    expect([cheap.status, cheap.headers.get('budget-remaining')]).toEqual([200, '1']);
  });

  it('an agentic key passes a route that needs agentic and fails one that needs write', async () => {
    const key = await admin.newKey({ scope: 'agentic' });
    expect((await call(api.base, 'POST', '/agentic', key)).status).toBe(200);
    expect((await call(api.base, 'POST', '/things', key)).status).toBe(403);
  });

  it('a read member makes read keys only: asking for more is a 403 naming the allowed scope; their key can only GET', async () => {
    const email = `reader-${Math.random().toString(36).slice(2)}@example.com`;
    const inv = await admin.req('POST', '/api/org/members', { email, role: 'read' });
    const reader = await HttpAgent.newAccount(server, email, { invite_token: inv.body.invite_token });
    const refused = await reader.req('POST', '/api/developers/keys', { name: 'asks-admin', scope: 'admin' });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'forbidden', allowed_scope: 'read', requested_scope: 'admin' });
    const key = await reader.newKey({});
    expect((await call(api.base, 'GET', '/things', key)).status).toBe(200);
    expect((await call(api.base, 'POST', '/things', key)).status).toBe(403);
    expect((await call(api.base, 'DELETE', '/admin', key)).status).toBe(403);
  });

  it('demoting an admin takes their admin key down on the very next request; removing them stops it', async () => {
    const email = `admin2-${Math.random().toString(36).slice(2)}@example.com`;
    const inv = await admin.req('POST', '/api/org/members', { email, role: 'admin' });
    const second = await HttpAgent.newAccount(server, email, { invite_token: inv.body.invite_token });
    const key = await second.newKey({ scope: 'admin' });
    expect((await call(api.base, 'DELETE', '/admin', key)).status).toBe(200);
    expect((await admin.req('PATCH', `/api/org/members/${inv.body.member.id}`, { role: 'read' })).status).toBe(200);
    expect((await call(api.base, 'POST', '/things', key)).status).toBe(403);
    expect((await call(api.base, 'GET', '/things', key)).status).toBe(200);
    expect((await admin.req('DELETE', `/api/org/members/${inv.body.member.id}`)).status).toBe(200);
    expect((await call(api.base, 'GET', '/things', key)).status).toBe(401);
  });

  it('a test key against the live API: 401 naming its environment and base URL', async () => {
    const key = await admin.newKey({ scope: 'write' });
    const r = await call(liveApi.base, 'GET', '/things', key);
    expect(r.status).toBe(401);
    // Nuvion's words in `message`; the environment and its base URL in `hint`.
    expect(r.body.error.message).toBe('No valid API key provided.');
    expect(r.body.error.hint).toContain('test');
    expect(r.body.error.hint).toContain('https://api.test.example.com');
    expect(r.body.error.reason).toBe('wrong_environment');
  });

  it('a revoked key: 401 at once', async () => {
    const key = await admin.newKey({ scope: 'write' });
    const list = await admin.req('GET', '/api/developers/keys');
    const id = list.body.keys.find((k: { last4: string }) => key.endsWith(k.last4)).id;
    expect((await call(api.base, 'GET', '/things', key)).status).toBe(200);
    await admin.req('DELETE', `/api/developers/keys/${id}`);
    const r = await call(api.base, 'GET', '/things', key);
    expect(r.status).toBe(401);
    expect(r.body.error).toMatchObject({ code: 'unauthorized', reason: 'revoked' });
  });

  it('open routes need no key, but a presented bad key is still refused', async () => {
    const open = await call(api.base, 'GET', '/open');
    expect(open.status).toBe(200);
    expect(open.body.key).toBeNull();
    const read = await admin.newKey({ scope: 'read' });
    expect((await call(api.base, 'GET', '/open', read)).body.key.scope).toBe('read');
    expect((await call(api.base, 'GET', '/open', 'kw_test_notakey')).status).toBe(401);
    expect((await call(api.base, 'GET', '/open', undefined, { authorization: 'Basic Zm9vOmJhcg==' })).status).toBe(401);
  });

  it('IP allowlists: 10.0.0.0/8 from 127.0.0.1 is 403, 127.0.0.1/32 is 200, a spoofed X-Forwarded-For is ignored', async () => {
    const ten = await admin.newKey({ scope: 'read', ip_allowlist: ['10.0.0.0/8'] });
    const lo = await admin.newKey({ scope: 'read', ip_allowlist: ['127.0.0.1/32', '::1/128'] });
    expect((await call(api.base, 'GET', '/things', ten)).status).toBe(403);
    expect((await call(api.base, 'GET', '/things', ten, { 'x-forwarded-for': '10.1.2.3' })).status).toBe(403);
    expect((await call(api.base, 'GET', '/things', lo)).status).toBe(200);
  });
});

describe.each(variants)('enforcement modes and trusted proxies through %s', (_name, start, verifier) => {
  let admin: HttpAgent;
  beforeAll(async () => {
    admin = await HttpAgent.newAccount(server, `modes-${Math.random().toString(36).slice(2)}@example.com`);
  });

  it('optional (transition period): a keyless write passes and is counted; a bad key still gets 401', async () => {
    const api = await start({ verifier: verifier(), enforcement: 'optional' });
    try {
      const r = await call(api.base, 'POST', '/things');
      expect(r.status).toBe(200);
      expect(r.body.key).toBeNull();
      expect(api.anonymous()).toBe(1);
      expect((await call(api.base, 'POST', '/things', 'kw_test_bogus')).status).toBe(401);
      const read = await admin.newKey({ scope: 'read' });
      expect((await call(api.base, 'POST', '/things', read)).status).toBe(403);
    } finally {
      await api.close();
    }
  });

  it('off: keys are not looked at', async () => {
    const api = await start({ verifier: verifier(), enforcement: 'off' });
    try {
      expect((await call(api.base, 'POST', '/things')).status).toBe(200);
      expect((await call(api.base, 'POST', '/things', 'kw_test_bogus')).status).toBe(200);
    } finally {
      await api.close();
    }
  });

  it('behind a trusted proxy, X-Forwarded-For names the client', async () => {
    const api = await start({ verifier: verifier(), trustedProxies: ['127.0.0.1/32', '::1/128'] });
    try {
      const ten = await admin.newKey({ scope: 'read', ip_allowlist: ['10.0.0.0/8'] });
      expect((await call(api.base, 'GET', '/things', ten, { 'x-forwarded-for': '10.1.2.3' })).status).toBe(200);
      expect((await call(api.base, 'GET', '/things', ten, { 'x-forwarded-for': '192.168.1.1' })).status).toBe(403);
    } finally {
      await api.close();
    }
  });
});

describe('remote verifier when keyward is down', () => {
  it('answers 503 service_unavailable instead of letting requests through', async () => {
    const api = await fastifyApi({ verifier: remoteVerifier({ baseUrl: 'http://127.0.0.1:9', timeoutMs: 500 }) });
    try {
      const r = await call(api.base, 'GET', '/things', `kw_test_${'a'.repeat(42)}`);
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe('service_unavailable');
    } finally {
      await api.close();
    }
  });
});

describe.each(variants.slice(0, 3))('an API as an OAuth protected resource (RFC 9728) through %s', (_name, start, verifier) => {
  let api: RunningApi;
  let admin: HttpAgent;
  const resource = 'https://api.example.com/v1';
  beforeAll(async () => {
    api = await start({
      verifier: verifier(),
      environment: 'test',
      protectedResource: { resource, authorizationServers: [server], scopesSupported: ['read', 'write'] },
    });
    admin = await HttpAgent.newAccount(server, `prm-${Math.random().toString(36).slice(2)}@example.com`);
  });
  afterAll(() => api.close());

  it('serves its metadata at both well-known paths, to anyone', async () => {
    for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/v1']) {
      const r = await call(api.base, 'GET', path);
      expect(r.status, path).toBe(200);
      expect(r.body).toEqual({
        resource,
        authorization_servers: [server],
        scopes_supported: ['read', 'write'],
        bearer_methods_supported: ['header'],
      });
    }
  });

  it('401 names the metadata (and invalid_token when a key was sent); 403 says which scope is needed', async () => {
    const at = 'resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/v1"';
    expect((await call(api.base, 'GET', '/things')).headers.get('www-authenticate')).toBe(`Bearer ${at}`);
    const unknown = await call(api.base, 'GET', '/things', generateKey({ name: 'test', prefix: 'kw_test_' }));
    expect(unknown.headers.get('www-authenticate')).toBe(`Bearer error="invalid_token", ${at}`);
    const reader = await admin.newKey({ scope: 'read' });
    const post = await call(api.base, 'POST', '/things', reader);
    expect(post.status).toBe(403);
    expect(post.headers.get('www-authenticate')).toBe(`Bearer error="insufficient_scope", scope="write", ${at}`);
  });

  it('refuses keys bound to another resource, accepts its own and unbound ones', async () => {
    const parent = await admin.newKey({ scope: 'read' });
    const bound = async (to: string) =>
      (await admin.req('POST', '/v1/keys/derive', { resource: to }, { authorization: `Bearer ${parent}` })).body.key.raw_key as string;
    expect((await call(api.base, 'GET', '/things', await bound('https://elsewhere.example.com/v1'))).status).toBe(401);
    expect((await call(api.base, 'GET', '/things', await bound(resource))).status).toBe(200);
    expect((await call(api.base, 'GET', '/things', parent)).status).toBe(200);
  });
});
