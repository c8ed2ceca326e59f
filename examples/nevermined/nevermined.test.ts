import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { remoteVerifier } from '../../packages/middleware/src/index.js';
import { HttpAgent, request, startKeyward } from '../support.js';
import { neverminedApi } from './app.js';
import { neverminedConfig } from './config.js';

/** The Nevermined document's "store, reuse, and use it" and "match the key to the environment". */
describe('Nevermined payment-methods API protected by keyward', () => {
  let keyward: Awaited<ReturnType<typeof startKeyward>>;
  let apis: Awaited<ReturnType<typeof neverminedApi>>[];
  let sandbox: string;
  let live: string;
  let owner: HttpAgent;

  beforeAll(async () => {
    keyward = await startKeyward(neverminedConfig);
    apis = [
      await neverminedApi(remoteVerifier({ baseUrl: keyward.url }), 'sandbox'),
      await neverminedApi(remoteVerifier({ baseUrl: keyward.url }), 'live'),
    ];
    for (const a of apis) await a.listen({ port: 0, host: '127.0.0.1' });
    [sandbox, live] = apis.map((a) => `http://127.0.0.1:${(a.server.address() as { port: number }).port}`) as [string, string];
    owner = await HttpAgent.newAccount(keyward.url, 'agent-owner@nevermined.example');
  });
  afterAll(async () => {
    for (const a of apis) await a.close();
    await keyward.keyward.close();
  });

  it('GET / on each API answers without a key: which environment it serves and its route', async () => {
    for (const [base, environment] of [
      [sandbox, 'sandbox'],
      [live, 'live'],
    ] as const) {
      const r = await request(base, 'GET', '/');
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ example: 'nevermined', environment, routes: [{ method: 'GET', path: '/payment-methods' }] });
    }
  });

  it('a sandbox: key lists payment methods on the sandbox API, as a Bearer token, again and again', async () => {
    const key = (await owner.createKey({ name: 'payments-agent', environment: 'sandbox', scope: 'read' })).raw_key;
    expect(key.startsWith('sandbox:')).toBe(true);
    for (let i = 0; i < 3; i++) {
      const r = await request(sandbox, 'GET', '/payment-methods', key);
      expect(r.status).toBe(200);
      expect(r.body.payment_methods).toHaveLength(1);
    }
  });

  it('a sandbox: key only works against the sandbox API, a live: key only against live', async () => {
    const sb = (await owner.createKey({ name: 'sb', environment: 'sandbox', scope: 'read' })).raw_key;
    const lv = (await owner.createKey({ name: 'lv', environment: 'live', scope: 'read' })).raw_key;
    const wrong = await request(live, 'GET', '/payment-methods', sb);
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.message).toBe('No valid API key provided.');
    expect(wrong.body.error.hint).toContain('https://api.sandbox.nevermined.app');
    expect((await request(sandbox, 'GET', '/payment-methods', lv)).status).toBe(401);
    expect((await request(live, 'GET', '/payment-methods', lv)).status).toBe(200);
  });
});
