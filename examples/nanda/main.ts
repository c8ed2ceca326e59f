/**
 * Runs keyward (configured as NANDA) and the registry beside it, verifying keys through keyward's verify endpoint.
 * `NANDA_KEYS_REQUIRED=false` starts in the transition period. Ports: KEYWARD_PORT (8801), PORT (3101).
 *   npx tsx examples/nanda/main.ts
 */
import { remoteVerifier } from '../../packages/middleware/src/index.js';
import { exampleSettings, startKeyward } from '../support.js';
import { nandaRegistry } from './app.js';
import { nandaConfig } from './config.js';

const s = exampleSettings('nanda', { keyward: 8801, api: 3101 });
const { url } = await startKeyward(nandaConfig, s.keywardPort, s.dataDir);
const { app } = nandaRegistry(remoteVerifier({ baseUrl: url }), { keysRequired: process.env.NANDA_KEYS_REQUIRED !== 'false' });
app.listen(s.apiPort, '127.0.0.1', () => console.log(`keyward on ${url}; NANDA registry on http://127.0.0.1:${s.apiPort}`));
