import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient } from './client.js';
import { ForbiddenError, RateLimitedError, UnauthorizedError } from './errors.js';
import { findKey } from './find-key.js';
import { Profiles } from './profiles.js';
import type { SecretStore } from './secret-store.js';

let server: Server | undefined;
afterEach(() => new Promise<void>((ok) => (server ? server.close(() => ok()) : ok())));

/** A real HTTP API that answers from a script: status, headers, body per request. */
async function api(script: { status: number; headers?: Record<string, string>; body: unknown }[]) {
  const seen: { auth: string | undefined; at: number }[] = [];
  server = createServer((req, res) => {
    seen.push({ auth: req.headers.authorization, at: Date.now() });
    const step = script[Math.min(seen.length - 1, script.length - 1)] as (typeof script)[number];
    res.writeHead(step.status, { 'content-type': 'application/json', ...step.headers });
    res.end(JSON.stringify(step.body));
  });
  await new Promise<void>((ok) => server?.listen(0, '127.0.0.1', () => ok()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const memoryStore = (entries: Record<string, string>): SecretStore => ({
  get: async (a) => entries[a] ?? null,
  set: async (a, s) => {
    entries[a] = s;
  },
  delete: async (a) => delete entries[a],
});

describe('createClient', () => {
  it('sends the key as Bearer to the base URL its prefix maps to', async () => {
    const { url, seen } = await api([{ status: 200, body: { data: [] } }]);
    const client = await createClient({ apiKey: 'nv_test_abc', baseUrls: { nv_test_: url, nv_live_: 'https://api.nuvion.co' } });
    expect(client.baseUrl).toBe(url);
    expect(await client.get('/accounts')).toEqual({ data: [] });
    expect(seen[0]?.auth).toBe('Bearer nv_test_abc');
  });

  it('retries 429 after the Retry-After it was given, then succeeds', async () => {
    const { url, seen } = await api([
      { status: 429, headers: { 'retry-after': '1' }, body: { error: { code: 'rate_limited', message: 'slow down' } } },
      { status: 200, body: { ok: true } },
    ]);
    const client = await createClient({ apiKey: 'kw_test_x', baseUrl: url });
    expect(await client.get('/x')).toEqual({ ok: true });
    expect(seen).toHaveLength(2);
    expect((seen[1]?.at ?? 0) - (seen[0]?.at ?? 0)).toBeGreaterThanOrEqual(950);
  });

  it('throws typed errors built from the envelope, and does not retry a spent quota', async () => {
    const body = (code: string, message: string) => ({ error: { code, message, request_id: 'req_1' } });
    const { url } = await api([{ status: 401, body: body('unauthorized', 'No valid API key provided.') }]);
    const e = await (await createClient({ apiKey: 'k', baseUrl: url })).get('/').catch((x) => x);
    expect(e).toBeInstanceOf(UnauthorizedError);
    expect(e).toMatchObject({ status: 401, code: 'unauthorized', message: 'No valid API key provided.', requestId: 'req_1' });
    server?.close();
    const scoped = {
      error: { code: 'forbidden', message: 'No.', reason: 'insufficient_scope', required_scope: 'write', key_scope: 'read' },
    };
    const forbidden = await api([{ status: 403, body: scoped }]);
    const f = (await (await createClient({ apiKey: 'k', baseUrl: forbidden.url })).post('/', {}).catch((x) => x)) as ForbiddenError;
    expect(f).toBeInstanceOf(ForbiddenError);
    // finding: a 403 did not name the scope needed or held.
    expect(f.message).toBe('No. (needs write scope; this key has read)');
    expect(f.reason).toBe('insufficient_scope');
    expect(f.details).toEqual({ reason: 'insufficient_scope', required_scope: 'write', key_scope: 'read' });
    server?.close();
    const quota = await api([{ status: 429, headers: { 'retry-after': '3600' }, body: body('quota_exceeded', 'month spent') }]);
    const q = await (await createClient({ apiKey: 'k', baseUrl: quota.url })).get('/').catch((x: RateLimitedError) => x);
    expect(q).toBeInstanceOf(RateLimitedError);
    expect((q as RateLimitedError).retryAfterSeconds).toBe(3600);
    expect(quota.seen).toHaveLength(1);
  });
});

describe('findKey', () => {
  it('prefers the explicit option, then the environment variable, then the secret store', async () => {
    const store = memoryStore({ 'keyward:http://127.0.0.1:8787:test': 'from-store' });
    const profiles = new Profiles(join(mkdtempSync(join(tmpdir(), 'kw-profiles-')), 'profiles.json'));
    profiles.save('keyward:http://127.0.0.1:8787:test', profile('http://127.0.0.1:8787', 'test', '2026-11-01'));
    expect((await findKey({ apiKey: 'explicit', env: { KEYWARD_API_KEY: 'from-env' }, store, profiles }))?.source).toBe('option');
    expect(await findKey({ env: { KEYWARD_API_KEY: 'from-env' }, store, profiles })).toMatchObject({
      key: 'from-env',
      source: 'environment',
    });
    expect(await findKey({ env: {}, store, profiles })).toMatchObject({ key: 'from-store', source: 'secret store' });
    expect(await findKey({ env: {}, store: memoryStore({}), profiles })).toBeNull();
  });
});

function profile(server: string, environment: string, savedAt: string) {
  return { provider: 'keyward', server, environment, keyId: null, display: `kw_${environment}_…abcd`, savedAt };
}

describe('the last server and environment are remembered', () => {
  it('finding: after `keyward login --server X`, token and exec found no key; now the last server is the default', async () => {
    const profiles = new Profiles(join(mkdtempSync(join(tmpdir(), 'kw-profiles-')), 'profiles.json'));
    const store = memoryStore({ 'keyward:https://keys.example.com:live': 'live-key', 'keyward:https://keys.example.com:test': 'test-key' });
    expect(await findKey({ env: {}, store, profiles })).toBeNull();
    profiles.save('keyward:https://keys.example.com:test', profile('https://keys.example.com', 'test', '2026-11-01T00:00:00Z'));
    profiles.save('keyward:https://keys.example.com:live', profile('https://keys.example.com', 'live', '2026-11-02T00:00:00Z'));
    expect(profiles.lastServer('keyward')).toBe('https://keys.example.com');
    expect(await findKey({ env: {}, store, profiles })).toMatchObject({
      key: 'live-key',
      account: 'keyward:https://keys.example.com:live',
    });
  });

  it('finding: after logging out of one environment, whoami did not fall back to another stored key', async () => {
    const profiles = new Profiles(join(mkdtempSync(join(tmpdir(), 'kw-profiles-')), 'profiles.json'));
    const store = memoryStore({ 'keyward:https://keys.example.com:test': 'test-key' });
    profiles.save('keyward:https://keys.example.com:test', profile('https://keys.example.com', 'test', '2026-11-01T00:00:00Z'));
    profiles.save('keyward:https://keys.example.com:live', profile('https://keys.example.com', 'live', '2026-11-02T00:00:00Z'));
    profiles.remove('keyward:https://keys.example.com:live');
    expect(profiles.defaultEnvironment('keyward', 'https://keys.example.com')).toBe('test');
    expect(await findKey({ env: {}, store, profiles })).toMatchObject({ key: 'test-key' });
  });
});

describe('createClient().derive', () => {
  it("asks the keyward server for a child key with the client's key, holds it redacted, and revokes it with itself", async () => {
    const requests: { method: string; url: string; auth: string | undefined; body: string }[] = [];
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        requests.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization, body });
        res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' });
        const key = {
          id: 'key_child',
          raw_key: 'kw_test_child',
          scope: 'read',
          parent_id: 'key_parent',
          agent: 'a1',
          budget: 9,
          expires_at: null,
        };
        res.end(JSON.stringify(req.method === 'POST' ? { key } : { message: 'API key revoked successfully' }));
      });
    });
    await new Promise<void>((ok) => server?.listen(0, '127.0.0.1', () => ok()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = await createClient({ apiKey: 'kw_test_parent', server: url });
    const child = await client.derive({ scope: 'read', ttl: 600, budget: 9, agent: 'a1' });
    expect(requests[0]).toEqual({
      method: 'POST',
      url: '/v1/keys/derive',
      auth: 'Bearer kw_test_parent',
      body: JSON.stringify({ scope: 'read', ttl: 600, budget: 9, agent: 'a1' }),
    });
    expect(child).toMatchObject({ id: 'key_child', scope: 'read', parentId: 'key_parent', budget: 9 });
    expect(child.key.reveal()).toBe('kw_test_child');
    expect(JSON.stringify(child)).not.toContain('kw_test_child');
    expect(await child.revoke()).toEqual({ revoked: true, already: false });
    expect(requests[1]).toMatchObject({ method: 'DELETE', url: '/api/developers/keys/key_child', auth: 'Bearer kw_test_child' });
  });

  it("throws the server's refusal, naming the field asked above the parent's", async () => {
    const { url } = await api([
      {
        status: 403,
        body: { error: { code: 'forbidden', message: "A child key's scope is at most its parent's (read).", field: 'scope' } },
      },
    ]);
    const client = await createClient({ apiKey: 'kw_test_reader', server: url });
    await expect(client.derive({ scope: 'write' })).rejects.toMatchObject({ status: 403, code: 'forbidden', details: { field: 'scope' } });
  });
});
