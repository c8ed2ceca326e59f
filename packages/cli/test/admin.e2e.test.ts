import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, HttpAgent, ServerProcess } from './server-process.js';

const run = promisify(execFile);

/** The provider moves a customer to another plan while the server runs; keys follow. */
describe('keyward admin', () => {
  let server: ServerProcess;
  let flags: string[];
  beforeAll(async () => {
    const first = new ServerProcess();
    const cfg = join(first.dataDir, 'cfg.json');
    writeFileSync(cfg, JSON.stringify({ default_plan: 'free', cache: { ttl_seconds: 1 } }));
    flags = ['--data-dir', join(first.dataDir, 'data'), '--config', cfg];
    server = await new ServerProcess(first.dataDir, {}, ['--config', cfg]).start();
  });
  afterAll(() => server.stop());

  const limitOf = async (key: string) =>
    (await fetch(`${server.base}/v1/whoami`, { headers: { authorization: `Bearer ${key}` } })).headers.get('ratelimit-limit');

  it('lists organizations and moves one to another plan; its keys follow, a lower tier stays, a downgrade caps them', async () => {
    const owner = new HttpAgent(server.base);
    await owner.req('POST', '/api/auth/signup', { email: 'customer@example.com', password: 'correct horse battery 9', name: 'Customer' });
    const onPlan = (await owner.req('POST', '/api/developers/keys', { name: 'follows-plan' })).body.key.raw_key as string;
    const orgId = (await owner.req('GET', '/api/me')).body.organization.id as string;
    expect(await limitOf(onPlan)).toBe('60');

    const orgs = await run(process.execPath, [BIN, 'admin', 'orgs', ...flags]);
    expect(orgs.stdout).toMatch(new RegExp(`${orgId}\\s+Customer's organization\\s+free\\s+1\\s+1`));

    const moved = await run(process.execPath, [BIN, 'admin', 'set-plan', orgId, 'pro', ...flags]);
    expect(moved.stdout).toContain(`${orgId}: free → pro.`);
    await new Promise((r) => setTimeout(r, 1200)); // the running server's cache TTL in this config
    expect(await limitOf(onPlan)).toBe('500');
    const lower = (await owner.req('POST', '/api/developers/keys', { name: 'kept-small', tier: 'free' })).body.key.raw_key as string;
    expect(await limitOf(lower)).toBe('60');

    await run(process.execPath, [BIN, 'admin', 'set-plan', orgId, 'free', ...flags]);
    await new Promise((r) => setTimeout(r, 1200));
    expect(await limitOf(onPlan)).toBe('60');

    const bad = await run(process.execPath, [BIN, 'admin', 'set-plan', orgId, 'platinum', ...flags]).catch((e) => e);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/no plan "platinum"; plans: free, pro, business, enterprise/);
  });
});
