import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BIN, freePort, HttpAgent, ServerProcess } from './server-process.js';

const run = promisify(execFile);

describe('environment retirement', () => {
  it('finding: changing environments silently killed every existing key; now start-up refuses, then retires them on purpose', async () => {
    const first = await new ServerProcess().start();
    const owner = await HttpAgent.newAccount(first.base, 'retire@example.com');
    const key = await owner.createKey({ name: 'made before the change' });
    expect(key.raw_key.startsWith('kw_test_')).toBe(true);
    await first.stop();

    const cfg = join(first.dataDir, 'cfg.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        environments: [
          { name: 'sandbox', prefix: 'sandbox:' },
          { name: 'live', prefix: 'live:' },
        ],
      }),
    );
    const dataFlags = ['--data-dir', join(first.dataDir, 'data'), '--config', cfg];
    const refused = await run(process.execPath, [BIN, 'serve', '--port', String(await freePort()), ...dataFlags]).catch((e) => e);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('1 active key belongs to environments no longer configured: test (prefix kw_test_): 1 key');
    expect(refused.stderr).toContain('--allow-retire');

    const second = await new ServerProcess(first.dataDir, {}, ['--config', cfg, '--allow-retire']).start();
    try {
      expect(await second.waitForOutput('warning: 1 active key')).toMatch(/test \(prefix kw_test_\): 1 key\. They are retired/);
      const who = await new HttpAgent(second.base).req('GET', '/v1/whoami', undefined, { authorization: `Bearer ${key.raw_key}` });
      expect(who.status).toBe(401);
      expect(who.body.error.message).toBe('No valid API key provided.');
      expect(who.body.error.hint).toMatch(/belongs to the test environment \(kw_test_…\), which this server no longer serves/);
      expect(who.body.error.reason).toBe('retired_environment');

      const again = new HttpAgent(second.base);
      await again.login('retire@example.com');
      expect((await again.req('GET', `/api/developers/keys/${key.id}`)).body.key.status).toBe('retired');
      expect((await again.req('GET', '/api/developers/keys?environment=test')).body.keys.map((k: { id: string }) => k.id)).toEqual([
        key.id,
      ]);
      const page = await again.req('GET', '/dashboard/keys');
      expect(String(await (await fetch(`${second.base}/dashboard/keys`, { headers: { cookie: again.cookie } })).text())).toContain(
        'Retired environment: test.',
      );
      expect(page.status).toBe(200);

      const orgs = await run(process.execPath, [BIN, 'admin', 'orgs', ...dataFlags]);
      expect(orgs.stdout).toMatch(/retire@example\.com\s+enterprise\s+1\s+0/);
    } finally {
      await second.stop();
    }
  }, 60_000);
});
