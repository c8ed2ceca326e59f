import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HttpAgent, ServerProcess } from './server-process.js';

/** Usage is counted in memory and written behind the request: a clean stop must still lose nothing. */
describe('usage across a clean stop', () => {
  it('5,000 requests (4,000 allowed, 1,000 over quota), SIGTERM, restart: usage reports exactly 5,000', async () => {
    const first = new ServerProcess();
    const cfg = join(first.dataDir, 'cfg.json');
    writeFileSync(cfg, JSON.stringify({ default_plan: 'free', plans: { free: { requests_per_minute: null, monthly_requests: 4000 } } }));
    const server = await new ServerProcess(first.dataDir, {}, ['--config', cfg]).start();
    const owner = new HttpAgent(server.base);
    await owner.req('POST', '/api/auth/signup', { email: 'usage@example.com', password: 'correct horse battery 9' });
    const key = (await owner.req('POST', '/api/developers/keys', { name: 'load' })).body.key;
    const auth = { authorization: `Bearer ${key.raw_key}` };
    const counts = { 200: 0, 429: 0 } as Record<number, number>;
    const worker = async (n: number) => {
      const agent = new HttpAgent(server.base);
      for (let i = 0; i < n; i++) {
        const s = (await agent.req('GET', '/v1/whoami', undefined, auth)).status;
        counts[s] = (counts[s] ?? 0) + 1;
      }
    };
    await Promise.all(Array.from({ length: 20 }, () => worker(250)));
    expect(counts).toEqual({ 200: 4000, 429: 1000 });
    expect(await server.stop('SIGTERM')).toBe(0);

    const again = await new ServerProcess(first.dataDir, {}, ['--config', cfg]).start();
    try {
      owner.base = again.base;
      const usage = await owner.req('GET', `/api/developers/keys/${key.id}/usage`);
      expect(usage.body.month).toMatchObject({ allowed: 4000, denied: 1000, total: 5000, used: 4000, remaining: 0 });
      expect((await new HttpAgent(again.base).req('GET', '/v1/whoami', undefined, auth)).status).toBe(429);
    } finally {
      await again.stop();
    }
  }, 120_000);
});
