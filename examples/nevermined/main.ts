/**
 * keyward (Nevermined config), the sandbox API and the live API, each verifying keys through keyward's verify
 * endpoint. Ports: KEYWARD_PORT (8804), PORT (3105: sandbox; live on the next).  npx tsx examples/nevermined/main.ts
 */
import { remoteVerifier } from '../../packages/middleware/src/index.js';
import { exampleSettings, startKeyward } from '../support.js';
import { neverminedApi } from './app.js';
import { neverminedConfig } from './config.js';

const s = exampleSettings('nevermined', { keyward: 8804, api: 3105 });
const { url } = await startKeyward(neverminedConfig, s.keywardPort, s.dataDir);
await (await neverminedApi(remoteVerifier({ baseUrl: url }), 'sandbox')).listen({ port: s.apiPort, host: '127.0.0.1' });
await (await neverminedApi(remoteVerifier({ baseUrl: url }), 'live')).listen({ port: s.apiPort + 1, host: '127.0.0.1' });
console.log(`keyward on ${url}; sandbox API on http://127.0.0.1:${s.apiPort}, live API on http://127.0.0.1:${s.apiPort + 1}`);
