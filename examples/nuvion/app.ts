import { Hono } from 'hono';
import { keywardHono } from '../../packages/middleware/src/hono.js';
import type { KeyVerifier } from '../../packages/middleware/src/index.js';
import { aboutExample } from '../about.js';

/** The Nuvion payments API for one environment: sandbox (api.nuvion.dev) or production (api.nuvion.co). */
export function nuvionApi(verifier: KeyVerifier, environment: 'sandbox' | 'production') {
  const app = new Hono<{ Variables: { keyward: import('../../packages/middleware/src/index.js').VerifiedKey | null } }>();
  const kw = keywardHono({ verifier, environment });
  const prefix = environment === 'sandbox' ? 'nv_test_' : 'nv_live_';
  // Registered before the guard of every other route: the only answer without a key.
  app.get('/', kw.open(), (c) =>
    c.json(
      aboutExample(
        'nuvion',
        `The Nuvion payments API, ${environment} environment: it takes ${prefix}… keys only.`,
        [
          { method: 'GET', path: '/accounts', needs: `a ${prefix}… key (read)` },
          { method: 'POST', path: '/accounts', needs: `a ${prefix}… key (write)` },
        ],
        { environment },
      ),
    ),
  );
  app.use('*', kw.protect());
  app.get('/accounts', (c) => c.json({ data: [{ id: 'acct_1', environment }], key: c.get('keyward')?.id }));
  app.post('/accounts', (c) => c.json({ id: 'acct_2', environment }, 201));
  return app;
}
