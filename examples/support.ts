import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeyward, defineConfig, type Keyward } from '../packages/server/src/index.js';

/** A keyward server for an example: its config, a SQLite file in a temp folder (or `dataDir`), listening on `port`. */
export async function startKeyward(configFile: unknown, port = 0, dataDir?: string): Promise<{ keyward: Keyward; url: string }> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'kw-example-'));
  const config = defineConfig(configFile, {
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
