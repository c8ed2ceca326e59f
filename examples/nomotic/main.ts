/**
 * keyward (Nomotic config) and the governance API beside it, verifying in process. Ports: KEYWARD_PORT (8802),
 * PORT (3102).  npx tsx examples/nomotic/main.ts
 */
import { inProcessVerifier } from '../../packages/server/src/index.js';
import { exampleSettings, startKeyward } from '../support.js';
import { nomoticApi } from './app.js';
import { nomoticConfig } from './config.js';

const s = exampleSettings('nomotic', { keyward: 8802, api: 3102 });
const { keyward, url } = await startKeyward(nomoticConfig, s.keywardPort, s.dataDir);
const api = await nomoticApi(inProcessVerifier(keyward));
await api.listen({ port: s.apiPort, host: '127.0.0.1' });
console.log(`keyward on ${url}; Nomotic API on http://127.0.0.1:${s.apiPort}/api/v1/`);
