/**
 * keyward (Nevermined config) on :8787, the sandbox API on :3001 and the live API on :3002, each verifying keys
 * through keyward's verify endpoint.  npx tsx examples/nevermined/main.ts
 */
import { remoteVerifier } from '../../packages/middleware/src/index.js';
import { startKeyward } from '../support.js';
import { neverminedApi } from './app.js';
import { neverminedConfig } from './config.js';

const { url } = await startKeyward(neverminedConfig, 8787, './.keyward-nevermined');
await (await neverminedApi(remoteVerifier({ baseUrl: url }), 'sandbox')).listen({ port: 3001, host: '127.0.0.1' });
await (await neverminedApi(remoteVerifier({ baseUrl: url }), 'live')).listen({ port: 3002, host: '127.0.0.1' });
console.log(`keyward on ${url}; sandbox API on http://127.0.0.1:3001, live API on http://127.0.0.1:3002`);
