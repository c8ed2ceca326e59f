import Fastify from 'fastify';
import { keywardFastify } from '../../packages/middleware/src/fastify.js';
import type { KeyVerifier } from '../../packages/middleware/src/index.js';

/**
 * The Nomotic governance API under /api/v1/: reads need `read`, governance evaluations and agent status updates
 * need `agentic`, managing agents, policies and context needs `write`, organization settings need `admin`.
 */
export async function nomoticApi(verifier: KeyVerifier) {
  const app = Fastify();
  await app.register(keywardFastify, { verifier, environment: 'live' });
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
