/**
 * The MCP example, beside a keyward server that is already running:
 *   npm run example:mcp -- --port 3200 --keyward http://127.0.0.1:8787
 * Options: --port (3200), --host (127.0.0.1), --keyward (KEYWARD_SERVER or http://127.0.0.1:8787), --resource (the
 * URL clients reach the MCP endpoint at; default http://<host>:<port>/mcp). Keys are verified by keyward's verify
 * endpoint; set KEYWARD_VERIFIER_CREDENTIAL to a verifier credential so that keyward checks the clients' addresses.
 */
import { parseArgs } from 'node:util';
import { remoteVerifier } from '../../packages/middleware/src/index.js';
import { mcpExample } from './app.js';

const { values } = parseArgs({
  options: { port: { type: 'string' }, host: { type: 'string' }, keyward: { type: 'string' }, resource: { type: 'string' } },
});
const port = Number(values.port ?? process.env.PORT ?? 3200);
const host = values.host ?? '127.0.0.1';
const keyward = (values.keyward ?? process.env.KEYWARD_SERVER ?? 'http://127.0.0.1:8787').replace(/\/+$/, '');
const resource = values.resource ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}/mcp`;
const { app } = mcpExample({ verifier: remoteVerifier({ baseUrl: keyward }), keyward, resource });
const server = app.listen(port, host, () => console.log(`MCP server on ${resource}, keys from ${keyward}`));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => server.close(() => process.exit(0)));
