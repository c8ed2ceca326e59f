import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, HttpAgent, ServerProcess } from './server-process.js';

const run = promisify(execFile);

describe('keyward serve, end to end over HTTP', () => {
  let server: ServerProcess;
  let a: HttpAgent;

  beforeAll(async () => {
    server = await new ServerProcess().start();
    a = new HttpAgent(server.base);
    expect((await a.req('POST', '/api/auth/signup', { email: 'e2e@example.com', password: 'correct horse battery 9' })).status).toBe(201);
  });
  afterAll(() => server.stop());

  it('prints its URL, creates its data folder and a 0600 secret on first start', async () => {
    expect(await server.waitForOutput(`keyward listening on ${server.base}`)).toContain(`keyward listening on ${server.base}`);
    const data = join(server.dataDir, 'data');
    expect(statSync(join(data, 'secret')).mode & 0o777).toBe(0o600);
    expect(readdirSync(data)).toContain('keyward.db');
  });

  it('walks the lifecycle and leaves no raw key on disk or in its output', async () => {
    const created = await a.req('POST', '/api/developers/keys', { name: 'svc-1' });
    expect(created.status).toBe(201);
    const raw: string = created.body.key.raw_key;
    expect((await a.req('GET', '/v1/whoami', undefined, { authorization: `Bearer ${raw}` })).status).toBe(200);
    const revoked = await a.req('DELETE', `/api/developers/keys/${created.body.key.id}`);
    expect(revoked.body.message).toBe('API key revoked successfully');
    expect((await a.req('GET', '/v1/whoami', undefined, { authorization: `Bearer ${raw}` })).status).toBe(401);
    await new Promise((r) => setTimeout(r, 1200)); // one usage flush
    const data = join(server.dataDir, 'data');
    for (const f of readdirSync(data)) expect(readFileSync(join(data, f)).includes(raw.slice(-20)), f).toBe(false);
    expect(server.output).not.toContain(raw.slice(-20));
  });

  it('the CLI manages keys with an admin key from the environment, never from an argument', async () => {
    const admin = await a.req('POST', '/api/developers/keys', { name: 'cli-admin', scope: 'admin' });
    const env = { ...process.env, KEYWARD_API_KEY: admin.body.key.raw_key, KEYWARD_SERVER: server.base };
    const created = await run(process.execPath, [BIN, 'keys', 'create', '--name', 'from-cli', '--scope', 'read', '--json'], { env });
    const key = JSON.parse(created.stdout);
    expect(key).toMatchObject({ name: 'from-cli', scope: 'read', raw_key: expect.stringMatching(/^kw_test_/) });
    const list = await run(process.execPath, [BIN, 'keys', 'list'], { env });
    expect(list.stdout).toMatch(/from-cli\s+kw_test_…\w{4}\s+test\s+read\s+active/);
    expect(list.stdout).not.toContain(key.raw_key);
    const rotated = await run(process.execPath, [BIN, 'keys', 'rotate', key.id, '--grace', '0'], { env });
    expect(rotated.stdout).toMatch(/is revoked[\s\S]*kw_test_/);
    const revoked = await run(process.execPath, [BIN, 'keys', 'revoke', key.id], { env });
    expect(revoked.stdout).toContain('API key revoked successfully');
    const missing = await run(process.execPath, [BIN, 'keys', 'list'], { env: { ...process.env, KEYWARD_API_KEY: '' } }).catch((e) => e);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('KEYWARD_API_KEY');
  });
});

describe('keyward serve start-up', () => {
  it('refuses a bad config with a message that names the value', async () => {
    const server = new ServerProcess();
    const cfg = join(server.dataDir, 'bad.json');
    writeFileSync(cfg, JSON.stringify({ plans: { free: { requests_per_minute: 'lots' } } }));
    const r = await run(process.execPath, [BIN, 'serve', '--port', '0', '--data-dir', join(server.dataDir, 'd'), '--config', cfg]).catch(
      (e) => e,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/plans\.free\.requests_per_minute/);
  });

  it('uses configured prefixes such as sandbox: and live:', async () => {
    const server = new ServerProcess();
    const cfg = join(server.dataDir, 'cfg.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        environments: [
          { name: 'sandbox', prefix: 'sandbox:' },
          { name: 'live', prefix: 'live:' },
        ],
      }),
    );
    await new ServerProcess(server.dataDir, {}, ['--config', cfg]).start().then(async (s) => {
      const agent = new HttpAgent(s.base);
      await agent.req('POST', '/api/auth/signup', { email: 'p@example.com', password: 'correct horse battery 9' });
      const sandbox = await agent.req('POST', '/api/developers/keys', { name: 'sb' });
      const live = await agent.req('POST', '/api/developers/keys', { name: 'lv', environment: 'live' });
      expect(sandbox.body.key.raw_key).toMatch(/^sandbox:[0-9A-Za-z]{42}$/);
      expect(live.body.key.raw_key).toMatch(/^live:[0-9A-Za-z]{42}$/);
      await s.stop();
    });
  });
});
