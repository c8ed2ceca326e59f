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

/** A person using keyward's HTTP API with a session cookie, exactly like NANDA's curl example. */
export class Account {
  cookie = '';
  constructor(readonly server: string) {}

  async call(method: string, path: string, body?: unknown) {
    const res = await fetch(this.server + path, {
      method,
      headers: { cookie: this.cookie, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const set = res.headers.get('set-cookie');
    if (set?.startsWith('access_token=')) this.cookie = set.split(';')[0] ?? '';
    return { status: res.status, body: (await res.json()) as any };
  }

  static async signup(server: string, email: string, inviteToken?: string): Promise<Account> {
    const a = new Account(server);
    const r = await a.call('POST', '/api/auth/signup', {
      email,
      password: 'correct horse battery 9',
      ...(inviteToken ? { invite_token: inviteToken } : {}),
    });
    if (r.status !== 201) throw new Error(`signup: ${JSON.stringify(r.body)}`);
    return a;
  }

  async createKey(body: Record<string, unknown>): Promise<{ id: string; raw_key: string }> {
    const r = await this.call('POST', '/api/developers/keys', body);
    if (r.status !== 201) throw new Error(`create key: ${JSON.stringify(r.body)}`);
    return r.body.key;
  }
}

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
