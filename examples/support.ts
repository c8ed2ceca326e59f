import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeyward, defineConfig, type Keyward } from '../packages/server/src/index.js';

/** A keyward server for an example: its config, a SQLite file in a temp folder (or `dataDir`), listening on `port`. */
export async function startKeyward(configFile: unknown, port = 0, dataDir?: string): Promise<{ keyward: Keyward; url: string }> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'kw-example-'));
  // KEYWARD_LOG_LEVEL quiets an example's server (the test suite sets it to warn); its config may still say otherwise.
  const level = process.env.KEYWARD_LOG_LEVEL;
  const config = defineConfig(level ? { log_level: level, ...(configFile as object) } : configFile, {
    host: '127.0.0.1',
    port,
    dataDir: dir,
    databaseUrl: null,
    redisUrl: null,
    secret: process.env.KEYWARD_SECRET ?? 'example-secret-only-for-demos-0123',
  });
  const keyward = await createKeyward(config);
  await keyward.app.listen({ port, host: '127.0.0.1' });
  return { keyward, url: `http://127.0.0.1:${(keyward.app.server.address() as AddressInfo).port}` };
}

/**
 * Where an example listens and keeps its data: `KEYWARD_PORT` (keyward), `PORT` (the example API; a second API
 * takes the next port) and `KEYWARD_DATA_DIR`, else defaults of its own that clash neither with `npm start`
 * (8787) nor with another example, and a data folder under the ignored `./.keyward/`.
 */
export function exampleSettings(name: string, defaults: { keyward: number; api: number }, env: NodeJS.ProcessEnv = process.env) {
  const port = (variable: string, fallback: number) => {
    const value = env[variable];
    if (value === undefined || value === '') return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${variable} must be a port from 1 to 65535, not "${value}"`);
    return n;
  };
  return {
    keywardPort: port('KEYWARD_PORT', defaults.keyward),
    apiPort: port('PORT', defaults.api),
    dataDir: env.KEYWARD_DATA_DIR || join('.keyward', 'examples', name),
  };
}

export { HttpAgent } from '../test-support/http-agent.js';

export async function request(base: string, method: string, path: string, key?: string, body?: unknown) {
  const res = await fetch(base + path, {
    method,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as any, headers: res.headers };
}

export function listening(server: { address(): string | AddressInfo | null }): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
