import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { keywardExpress } from '../src/express.js';
import { keywardFastify } from '../src/fastify.js';
import { keywardHono } from '../src/hono.js';
import type { ProtectOptions } from '../src/protect.js';

/**
 * The same small API in each framework: GET/POST /things (default scopes), POST /agentic (needs agentic),
 * DELETE /admin (needs admin), GET /open (open), GET /expensive (costs 5 credits). Each answers with the key it saw. Returns its base URL.
 */
export interface RunningApi {
  base: string;
  anonymous: () => number;
  close(): Promise<void>;
}

export async function fastifyApi(options: ProtectOptions): Promise<RunningApi> {
  const app = Fastify();
  await app.register(keywardFastify, options);
  const who = (req: { keyward: unknown }) => ({ key: req.keyward });
  app.get('/things', async (req) => who(req));
  app.post('/things', async (req) => who(req));
  app.post('/agentic', { config: { keyward: { scope: 'agentic' } } }, async (req) => who(req));
  app.delete('/admin', { config: { keyward: { scope: 'admin' } } }, async (req) => who(req));
  app.get('/open', { config: { keyward: { open: true } } }, async (req) => who(req));
  app.get('/expensive', { config: { keyward: { cost: 5 } } }, async (req) => who(req));
  await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
    anonymous: () => app.keywardStats.anonymous,
    close: () => app.close(),
  };
}

export async function expressApi(options: ProtectOptions): Promise<RunningApi> {
  const app = express();
  const kw = keywardExpress(options);
  app.use(kw.wellKnown());
  const who = (req: express.Request, res: express.Response) => void res.json({ key: req.keyward ?? null });
  app.get('/things', kw.protect(), who);
  app.post('/things', kw.protect(), who);
  app.post('/agentic', kw.protect({ scope: 'agentic' }), who);
  app.delete('/admin', kw.protect({ scope: 'admin' }), who);
  app.get('/open', kw.open(), who);
  app.get('/expensive', kw.protect({ cost: 5 }), who);
  const server = await new Promise<import('node:http').Server>((ok) => {
    const s = app.listen(0, '127.0.0.1', () => ok(s));
  });
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    anonymous: () => kw.stats.anonymous,
    close: () => new Promise((ok) => server.close(() => ok())),
  };
}

export async function honoApi(options: ProtectOptions): Promise<RunningApi> {
  const app = new Hono<{ Variables: { keyward: unknown } }>();
  const kw = keywardHono(options);
  app.use(kw.wellKnown());
  const who = (c: { json: (b: unknown) => Response; get: (k: 'keyward') => unknown }) => c.json({ key: c.get('keyward') ?? null });
  app.get('/things', kw.protect(), who);
  app.post('/things', kw.protect(), who);
  app.post('/agentic', kw.protect({ scope: 'agentic' }), who);
  app.delete('/admin', kw.protect({ scope: 'admin' }), who);
  app.get('/open', kw.open(), who);
  app.get('/expensive', kw.protect({ cost: () => 5 }), who);
  const server = await new Promise<ReturnType<typeof serve>>((ok) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => ok(s));
  });
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    anonymous: () => kw.stats.anonymous,
    close: () => new Promise((ok) => server.close(() => ok())),
  };
}
