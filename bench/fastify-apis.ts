/**
 * Child process of bench/middleware.ts: one keyward in process and two copies of the same Fastify route, one bare
 * and one behind keyward's plugin. Prints a JSON line with both URLs and a key.
 */
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import pino from 'pino';
import { keywardFastify } from '../packages/middleware/src/fastify.js';
import { createKeyward, defineConfig, inProcessVerifier } from '../packages/server/src/index.js';

const config = defineConfig(
  { plans: { free: { requests_per_minute: null, monthly_requests: null, max_active_keys: null } }, default_plan: 'free' },
  {
    host: '127.0.0.1',
    port: 0,
    dataDir: mkdtempSync(join(tmpdir(), 'kw-bench-')),
    databaseUrl: null,
    redisUrl: null,
    secret: 'bench-secret-bench-secret',
  },
);
const keyward = await createKeyward(config, { logger: pino({ level: 'silent' }) });
const s = await keyward.app.inject({
  method: 'POST',
  url: '/api/auth/signup',
  payload: { email: 'b@example.com', password: 'bench password 1' },
});
const cookie = String(s.headers['set-cookie']).split(';')[0] ?? '';
const key = (
  await keyward.app.inject({ method: 'POST', url: '/api/developers/keys', headers: { cookie }, payload: { name: 'bench', scope: 'read' } })
).json().key.raw_key as string;

const payload = { agents: [{ id: 'a1', url: 'https://agent.example.com' }] };
const bare = Fastify();
bare.get('/list', async () => payload);
const guarded = Fastify();
await guarded.register(keywardFastify, { verifier: inProcessVerifier(keyward), environment: 'test' });
guarded.get('/list', async () => payload);
await bare.listen({ port: 0, host: '127.0.0.1' });
await guarded.listen({ port: 0, host: '127.0.0.1' });
const url = (app: typeof bare) => `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/list`;
console.log(JSON.stringify({ bare: url(bare), guarded: url(guarded), key }));
