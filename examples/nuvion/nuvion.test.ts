import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inProcessVerifier } from '../../packages/server/src/index.js';
import { HttpAgent, listening, request, startKeyward } from '../support.js';
import { nuvionApi } from './app.js';
import { nuvionConfig } from './config.js';

/** Walks Nuvion's "API keys" page, claim by claim. */
describe('Nuvion payments API protected by keyward', () => {
  let keyward: Awaited<ReturnType<typeof startKeyward>>;
  let servers: ReturnType<typeof serve>[];
  let sandbox: string;
  let production: string;
  let admin: HttpAgent;

  beforeAll(async () => {
    keyward = await startKeyward(nuvionConfig);
    const verifier = inProcessVerifier(keyward.keyward);
    servers = await Promise.all(
      (['sandbox', 'production'] as const).map(
        (env) =>
          new Promise<ReturnType<typeof serve>>((ok) => {
            const s = serve({ fetch: nuvionApi(verifier, env).fetch, port: 0, hostname: '127.0.0.1' }, () => ok(s));
          }),
      ),
    );
    [sandbox, production] = servers.map(listening) as [string, string];
    admin = await HttpAgent.newAccount(keyward.url, 'admin@nuvion.example');
  });
  afterAll(async () => {
    for (const s of servers) s.close();
    await keyward.keyward.close();
  });

  it('GET / answers without a key (every other route still needs one): the environment, its key prefix and routes', async () => {
    const r = await request(production, 'GET', '/');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ example: 'nuvion', environment: 'production' });
    expect(r.body.routes).toContainEqual({ method: 'GET', path: '/accounts', needs: 'a nv_live_… key (read)' });
    expect((await request(production, 'GET', '/accounts')).status).toBe(401);
  });

  it('nv_test_ keys work against the sandbox; nv_live_ keys against production', async () => {
    const test = (await admin.createKey({ name: 'dev', environment: 'sandbox' })).raw_key;
    const live = (await admin.createKey({ name: 'prod', environment: 'production' })).raw_key;
    expect(test).toMatch(/^nv_test_/);
    expect(live).toMatch(/^nv_live_/);
    expect((await request(sandbox, 'GET', '/accounts', test)).status).toBe(200);
    expect((await request(production, 'GET', '/accounts', live)).status).toBe(200);
    const wrong = await request(production, 'GET', '/accounts', test);
    expect(wrong.status).toBe(401);
    // Nuvion's words stay in `message`; where the key works goes into `hint`.
    expect(wrong.body.error).toMatchObject({ message: 'No valid API key provided.', reason: 'wrong_environment' });
    expect(wrong.body.error.hint).toContain('https://api.nuvion.dev');
    expect((await request(sandbox, 'GET', '/accounts', live)).body.error.hint).toContain('https://api.nuvion.co');
  });

  it('requests without a valid key return exactly the documented 401', async () => {
    const r = await request(sandbox, 'GET', '/accounts');
    expect(r.status).toBe(401);
    // Nuvion's exact words; why goes into an extra field of the envelope.
    expect(r.body).toEqual({ error: { code: 'unauthorized', message: 'No valid API key provided.', reason: 'missing' } });
  });

  it('keys inherit their creator’s permissions: a read-only user’s key can only GET, with the documented 403', async () => {
    const inv = await admin.req('POST', '/api/org/members', { email: 'viewer@nuvion.example', role: 'read' });
    const viewer = await HttpAgent.newAccount(keyward.url, 'viewer@nuvion.example', { invite_token: inv.body.invite_token });
    const asked = await viewer.req('POST', '/api/developers/keys', { name: 'reporting', environment: 'sandbox', scope: 'write' });
    expect(asked.status).toBe(403);
    expect(asked.body.error.allowed_scope).toBe('read');
    const key = (await viewer.createKey({ name: 'reporting', environment: 'sandbox' })).raw_key;
    expect((await request(sandbox, 'GET', '/accounts', key)).status).toBe(200);
    const r = await request(sandbox, 'POST', '/accounts', key, {});
    expect(r.status).toBe(403);
    expect(r.body).toEqual({
      error: {
        code: 'forbidden',
        message: 'Your API key does not have permission to perform this action.',
        reason: 'insufficient_scope',
        required_scope: 'write',
        key_scope: 'read',
      },
    });
    const adminKey = (await admin.createKey({ name: 'all', environment: 'sandbox', scope: 'admin' })).raw_key;
    expect((await request(sandbox, 'POST', '/accounts', adminKey, {})).status).toBe(201);
  });

  it('rotates without downtime: the new key works before the old one is deleted', async () => {
    const old = await admin.createKey({ name: 'svc', environment: 'production' });
    const rot = await admin.req('POST', `/api/developers/keys/${old.id}/rotate`, { grace_period_seconds: 3600 });
    expect((await request(production, 'GET', '/accounts', rot.body.key.raw_key)).status).toBe(200);
    expect((await request(production, 'GET', '/accounts', old.raw_key)).status).toBe(200);
    await admin.req('DELETE', `/api/developers/keys/${old.id}`);
    expect((await request(production, 'GET', '/accounts', old.raw_key)).status).toBe(401);
    expect((await request(production, 'GET', '/accounts', rot.body.key.raw_key)).status).toBe(200);
  });

  it('IP allowlisting restricts where a key may be used from', async () => {
    const hooks = (await admin.createKey({ name: 'webhooks', environment: 'sandbox', ip_allowlist: ['203.0.113.0/24'] })).raw_key;
    expect((await request(sandbox, 'GET', '/accounts', hooks)).status).toBe(403);
    const local = (await admin.createKey({ name: 'local', environment: 'sandbox', ip_allowlist: ['127.0.0.0/8', '::1/128'] })).raw_key;
    expect((await request(sandbox, 'GET', '/accounts', local)).status).toBe(200);
  });
});
