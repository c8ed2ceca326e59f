/** keyward (Nuvion config) on :8787, sandbox API on :3001, production API on :3002.  npx tsx examples/nuvion/main.ts */
import { serve } from '@hono/node-server';
import { inProcessVerifier } from '../../packages/server/src/index.js';
import { startKeyward } from '../support.js';
import { nuvionApi } from './app.js';
import { nuvionConfig } from './config.js';

const { keyward, url } = await startKeyward(nuvionConfig, 8787, './.keyward-nuvion');
serve({ fetch: nuvionApi(inProcessVerifier(keyward), 'sandbox').fetch, port: 3001, hostname: '127.0.0.1' });
serve({ fetch: nuvionApi(inProcessVerifier(keyward), 'production').fetch, port: 3002, hostname: '127.0.0.1' });
console.log(`keyward on ${url}; sandbox API on http://127.0.0.1:3001, production API on http://127.0.0.1:3002`);
