/**
 * Runs keyward (configured as NANDA) on :8787 and the registry on :3000, verifying keys through keyward's verify
 * endpoint. `NANDA_KEYS_REQUIRED=false` starts in the transition period.  npx tsx examples/nanda/main.ts
 */
import { remoteVerifier } from '../../packages/middleware/src/index.js';
import { startKeyward } from '../support.js';
import { nandaRegistry } from './app.js';
import { nandaConfig } from './config.js';

const { url } = await startKeyward(nandaConfig, 8787, './.keyward-nanda');
const { app } = nandaRegistry(remoteVerifier({ baseUrl: url }), { keysRequired: process.env.NANDA_KEYS_REQUIRED !== 'false' });
app.listen(3000, '127.0.0.1', () => console.log(`keyward on ${url}; NANDA registry on http://127.0.0.1:3000`));
