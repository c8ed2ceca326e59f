/**
 * Child process of bench/middleware.ts: one keyward in process (also serving HTTP) and three copies of the same
 * Fastify route: bare, behind keyward's plugin with the in-process verifier, and behind it with the remote verifier
 * (a verifier credential, so its local cache is on). Prints a JSON line with the URLs and a key.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import pino from 'pino';
import { keywardFastify, remoteVerifier } from '../packages/middleware/src/fastify.js';
import { createKeyward, defineConfig, inProcessVerifier } from '../packages/server/src/index.js';

const credential = 'kwv_bench-middleware-verifier-credential';
const config = defineConfig(
  {
    plans: {
      // Limited, but never spent during a run: every request is answered from a leased allowance or asked about.
      pro: { requests_per_minute: 100_000_000, monthly_requests: 1_000_000_000, max_active_keys: null },
      business: { requests_per_minute: null, monthly_requests: null, max_active_keys: null },
    },
    default_plan: 'business',
    verifier_credentials: [{ name: 'bench', sha256: createHash('sha256').update(credential).digest('hex') }],
  },
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
const newKey = async (payload: Record<string, unknown>) =>
  (await keyward.app.inject({ method: 'POST', url: '/api/developers/keys', headers: { cookie }, payload })).json().key.raw_key as string;
const key = await newKey({ name: 'bench', scope: 'read' });
const limitedKey = await newKey({ name: 'bench limited', scope: 'read', tier: 'pro' });

const payload = { agents: [{ id: 'a1', url: 'https://agent.example.com' }] };
const bare = Fastify();
bare.get('/list', async () => payload);
const guarded = Fastify();
await guarded.register(keywardFastify, { verifier: inProcessVerifier(keyward), environment: 'test' });
guarded.get('/list', async () => payload);
await keyward.app.listen({ port: 0, host: '127.0.0.1' });
const keywardUrl = `http://127.0.0.1:${(keyward.app.server.address() as AddressInfo).port}`;
const remote = Fastify();
await remote.register(keywardFastify, { verifier: remoteVerifier({ baseUrl: keywardUrl, credential }), environment: 'test' });
remote.get('/list', async () => payload);
await bare.listen({ port: 0, host: '127.0.0.1' });
await guarded.listen({ port: 0, host: '127.0.0.1' });
await remote.listen({ port: 0, host: '127.0.0.1' });
const url = (app: typeof bare) => `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/list`;
console.log(JSON.stringify({ bare: url(bare), guarded: url(guarded), remote: url(remote), key, limitedKey }));
