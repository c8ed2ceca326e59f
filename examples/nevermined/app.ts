import Fastify from 'fastify';
import { keywardFastify } from '../../packages/middleware/src/fastify.js';
import type { KeyVerifier } from '../../packages/middleware/src/index.js';

/** Nevermined's payments API for one environment: `GET /payment-methods` with a Bearer key. */
export async function neverminedApi(verifier: KeyVerifier, environment: 'sandbox' | 'live') {
  const app = Fastify();
  await app.register(keywardFastify, { verifier, environment });
  app.get('/payment-methods', async (req) => ({
    environment,
    owner: req.keyward?.organizationId,
    payment_methods: [{ id: 'pm_card', type: 'card' }],
  }));
  return app;
}
