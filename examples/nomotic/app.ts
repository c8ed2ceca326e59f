import Fastify from 'fastify';
import { keywardFastify } from '../../packages/middleware/src/fastify.js';
import type { KeyVerifier } from '../../packages/middleware/src/index.js';
import { aboutExample } from '../about.js';

/**
 * The Nomotic governance API under /api/v1/: reads need `read`, governance evaluations and agent status updates
 * need `agentic`, managing agents, policies and context needs `write`, organization settings need `admin`.
 */
export async function nomoticApi(verifier: KeyVerifier) {
  const app = Fastify();
  await app.register(keywardFastify, { verifier, environment: 'live' });
  app.get('/', { config: { keyward: { open: true } } }, async () =>
    aboutExample('nomotic', 'The Nomotic governance API under /api/v1/, with keys of four scopes (nm_live_…).', [
      { method: 'GET', path: '/api/v1/agents', needs: 'a key (read)' },
      { method: 'GET', path: '/api/v1/audit', needs: 'a key (read)' },
      { method: 'POST', path: '/api/v1/evaluations', needs: 'a key (agentic)' },
      { method: 'PATCH', path: '/api/v1/agents/<id>/status', needs: 'a key (agentic)' },
      { method: 'POST', path: '/api/v1/agents', needs: 'a key (write)' },
      { method: 'POST', path: '/api/v1/policies', needs: 'a key (write)' },
      { method: 'PUT', path: '/api/v1/settings', needs: 'a key (admin)' },
    ]),
  );
  const agents = new Map<string, { id: string; status: string }>();
  const evaluations: unknown[] = [];
  await app.register(
    async (v1) => {
      v1.get('/agents', async () => ({ agents: [...agents.values()] }));
      v1.get('/audit', async () => ({ evaluations }));
      v1.post('/evaluations', { config: { keyward: { scope: 'agentic' } } }, async (req, reply) => {
        evaluations.push({ by: req.keyward?.id, body: req.body });
        return reply.code(201).send({ decision: 'allow' });
      });
      v1.patch('/agents/:id/status', { config: { keyward: { scope: 'agentic' } } }, async (req) => {
        const agent = agents.get((req.params as { id: string }).id);
        if (agent) agent.status = String((req.body as { status?: string })?.status ?? agent.status);
        return agent ?? {};
      });
      v1.post('/agents', async (req, reply) => {
        const id = String((req.body as { id?: string })?.id ?? `agent-${agents.size + 1}`);
        agents.set(id, { id, status: 'active' });
        return reply.code(201).send(agents.get(id));
      });
      v1.post('/policies', async (_req, reply) => reply.code(201).send({ created: true }));
      v1.put('/settings', { config: { keyward: { scope: 'admin' } } }, async () => ({ updated: true }));
    },
    { prefix: '/api/v1' },
  );
  return app;
}
