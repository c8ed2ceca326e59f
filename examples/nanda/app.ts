import express from 'express';
import { keywardExpress } from '../../packages/middleware/src/express.js';
import type { KeyVerifier } from '../../packages/middleware/src/index.js';
import { aboutExample } from '../about.js';

interface Agent {
  agent_id: string;
  agent_url: string;
  facts: Record<string, unknown>;
  registered_by: string | null;
}

/**
 * The NANDA agent registry: reads are always open, writes take a key. `keysRequired: false` is the transition
 * period: keyless writes still work (and are counted) so existing integrations keep running; bad keys are refused.
 */
export function nandaRegistry(verifier: KeyVerifier, options: { keysRequired: boolean }) {
  const app = express();
  app.use(express.json());
  const kw = keywardExpress({ verifier, enforcement: options.keysRequired ? 'required' : 'optional' });
  const agents = new Map<string, Agent>();

  const about = aboutExample(
    'nanda',
    'The NANDA agent registry: reads are open to anyone, writes take a key (nanda_…).',
    [
      { method: 'GET', path: '/list', needs: 'no key' },
      { method: 'GET', path: '/search?q=<text>', needs: 'no key' },
      { method: 'GET', path: '/lookup/<agent_id>', needs: 'no key' },
      { method: 'GET', path: '/agentfacts/<agent_id>', needs: 'no key' },
      { method: 'GET', path: '/stats', needs: 'no key' },
      { method: 'POST', path: '/register', needs: 'a key (write); body {"agent_id","agent_url"}' },
      { method: 'PUT', path: '/agentfacts/<agent_id>', needs: 'a key (write)' },
      { method: 'DELETE', path: '/agents/<agent_id>', needs: 'a key (write)' },
    ],
    { keys_required: options.keysRequired },
  );
  app.get('/', kw.open(), (_req, res) => void res.json(about));
  app.get('/health', kw.open(), (_req, res) => void res.json({ status: 'ok' }));
  app.get('/list', kw.open(), (_req, res) => void res.json({ agents: [...agents.values()] }));
  app.get('/search', kw.open(), (req, res) => {
    const q = String(req.query.q ?? '').toLowerCase();
    res.json({ agents: [...agents.values()].filter((a) => a.agent_id.toLowerCase().includes(q)) });
  });
  app.get('/lookup/:id', kw.open(), (req, res) => {
    const agent = agents.get(req.params.id as string);
    if (!agent) return void res.status(404).json({ error: { code: 'not_found', message: 'No such agent.' } });
    res.json(agent);
  });
  app.get('/agentfacts/:id', kw.open(), (req, res) => void res.json(agents.get(req.params.id as string)?.facts ?? {}));
  app.get('/stats', kw.open(), (_req, res) => void res.json({ agents: agents.size, anonymous_writes: kw.stats.anonymous }));
  app.get('/reputation', kw.open(), (_req, res) => void res.json({ reputation: [] }));

  app.post('/register', kw.protect(), (req, res) => {
    const { agent_id, agent_url } = req.body ?? {};
    if (typeof agent_id !== 'string' || typeof agent_url !== 'string') {
      return void res.status(400).json({ error: { code: 'invalid_request', message: 'agent_id and agent_url are required strings.' } });
    }
    const agent = { agent_id, agent_url, facts: {}, registered_by: req.keyward?.id ?? null };
    agents.set(agent_id, agent);
    res.status(201).json(agent);
  });
  app.put('/agentfacts/:id', kw.protect(), (req, res) => {
    const agent = agents.get(req.params.id as string);
    if (!agent) return void res.status(404).json({ error: { code: 'not_found', message: 'No such agent.' } });
    agent.facts = req.body ?? {};
    res.json(agent);
  });
  app.delete('/agents/:id', kw.protect(), (req, res) => {
    const existed = agents.delete(req.params.id as string);
    res
      .status(existed ? 200 : 404)
      .json(existed ? { deleted: req.params.id } : { error: { code: 'not_found', message: 'No such agent.' } });
  });
  return { app, stats: kw.stats };
}
