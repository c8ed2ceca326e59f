/**
 * keyward (Nuvion config), the sandbox API and the production API. Ports: KEYWARD_PORT (8803), PORT (3103: sandbox;
 * production on the next).  npx tsx examples/nuvion/main.ts
 */
import { serve } from '@hono/node-server';
import { inProcessVerifier } from '../../packages/server/src/index.js';
import { exampleSettings, startKeyward } from '../support.js';
import { nuvionApi } from './app.js';
import { nuvionConfig } from './config.js';

const s = exampleSettings('nuvion', { keyward: 8803, api: 3103 });
const { keyward, url } = await startKeyward(nuvionConfig, s.keywardPort, s.dataDir);
serve({ fetch: nuvionApi(inProcessVerifier(keyward), 'sandbox').fetch, port: s.apiPort, hostname: '127.0.0.1' });
serve({ fetch: nuvionApi(inProcessVerifier(keyward), 'production').fetch, port: s.apiPort + 1, hostname: '127.0.0.1' });
console.log(`keyward on ${url}; sandbox API on http://127.0.0.1:${s.apiPort}, production API on http://127.0.0.1:${s.apiPort + 1}`);
