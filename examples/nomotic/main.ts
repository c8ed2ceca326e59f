/** keyward (Nomotic config) on :8787 and the governance API on :3000, verifying in process.  npx tsx examples/nomotic/main.ts */
import { inProcessVerifier } from '../../packages/server/src/index.js';
import { startKeyward } from '../support.js';
import { nomoticApi } from './app.js';
import { nomoticConfig } from './config.js';

const { keyward, url } = await startKeyward(nomoticConfig, 8787, './.keyward-nomotic');
const api = await nomoticApi(inProcessVerifier(keyward));
await api.listen({ port: 3000, host: '127.0.0.1' });
console.log(`keyward on ${url}; Nomotic API on http://127.0.0.1:3000/api/v1/`);
