import { Hono } from 'hono';
import { keywardHono } from '../../packages/middleware/src/hono.js';
import type { KeyVerifier } from '../../packages/middleware/src/index.js';

/** The Nuvion payments API for one environment: sandbox (api.nuvion.dev) or production (api.nuvion.co). */
export function nuvionApi(verifier: KeyVerifier, environment: 'sandbox' | 'production') {
  const app = new Hono<{ Variables: { keyward: import('../../packages/middleware/src/index.js').VerifiedKey | null } }>();
  const kw = keywardHono({ verifier, environment });
  app.use('*', kw.protect());
  app.get('/accounts', (c) => c.json({ data: [{ id: 'acct_1', environment }], key: c.get('keyward')?.id }));
  app.post('/accounts', (c) => c.json({ id: 'acct_2', environment }, 201));
  return app;
}
