import Fastify from 'fastify';
import { keywardFastify } from '../../packages/middleware/src/fastify.js';
import type { KeyVerifier } from '../../packages/middleware/src/index.js';
import { aboutExample } from '../about.js';

/** Nevermined's payments API for one environment: `GET /payment-methods` with a Bearer key. */
export async function neverminedApi(verifier: KeyVerifier, environment: 'sandbox' | 'live') {
  const app = Fastify();
  await app.register(keywardFastify, { verifier, environment });
  app.get('/', { config: { keyward: { open: true } } }, async () =>
    aboutExample(
      'nevermined',
      `Nevermined's payments API, ${environment} environment: it takes ${environment}: keys only.`,
      [{ method: 'GET', path: '/payment-methods', needs: `a ${environment} key (read)` }],
      { environment },
    ),
  );
  app.get('/payment-methods', async (req) => ({
    environment,
    owner: req.keyward?.organizationId,
    payment_methods: [{ id: 'pm_card', type: 'card' }],
  }));
  return app;
}
