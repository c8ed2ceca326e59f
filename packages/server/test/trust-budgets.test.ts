import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, type Harness, startHarness } from './harness.js';
import { freshPostgresDatabase, postgresUrl } from './postgres.js';

/**
 * Budgets fail closed: while the Redis that counts budgets refuses commands (its data kept), a request that would
 * spend credits is refused with a 503 and a Retry-After; once Redis answers again its counters agree with storage,
 * even when Redis came back knowing less than storage recorded (a replica that lagged), so nothing is overspent.
 * Run on SQLite and PostgreSQL, each against a Redis server of its own (the shared one is never broken).
 */

const redisUrl = process.env.KEYWARD_TEST_REDIS_URL;
if (!redisUrl) console.warn('[skip] trust: budgets through a Redis outage: set KEYWARD_TEST_REDIS_URL to run them (as .ci/run does)');

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
    s.on('error', fail);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A redis-server of this test's own, and redis-cli against it (with the password once one is set). */
async function privateRedis() {
  const port = await freePort();
  const proc: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  let password = '';
  const cli = (...args: string[]) =>
    execFileSync('redis-cli', ['-p', String(port), ...(password ? ['-a', password, '--no-auth-warning'] : []), ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10_000,
    }).trim();
  for (let i = 0; i < 50; i++) {
    try {
      if (cli('PING') === 'PONG') break;
    } catch {}
    await sleep(100);
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    cli,
    /** Refuses every command from now on (NOAUTH), data kept, as the acceptance check does. */
    refuse() {
      const pw = `kw-${randomBytes(6).toString('hex')}`;
      cli('CONFIG', 'SET', 'requirepass', pw);
      password = pw;
      cli('CLIENT', 'KILL', 'TYPE', 'normal');
      cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
    },
    answer() {
      cli('CONFIG', 'SET', 'requirepass', '');
      password = '';
    },
    stop: () => proc.kill('SIGKILL'),
  };
}

const stores = [
  { name: 'SQLite', enabled: Boolean(redisUrl) },
  { name: 'PostgreSQL', enabled: Boolean(redisUrl && postgresUrl) },
];

for (const storage of stores) {
  describe.skipIf(!storage.enabled)(
    `trust: budgets fail closed while Redis is unreachable, and are reconciled after (${storage.name})`,
    () => {
      let redis: Awaited<ReturnType<typeof privateRedis>>;
      let h: Harness;
      let drop: (() => Promise<void>) | null = null;
      beforeAll(async () => {
        redis = await privateRedis();
        let databaseUrl: string | undefined;
        if (storage.name === 'PostgreSQL') {
          const db = await freshPostgresDatabase();
          databaseUrl = db.url;
          drop = db.drop;
        }
        // The default fail mode, `open`: per-minute limits keep failing open, budgets must not.
        h = await startHarness({ default_plan: 'business' }, {}, { redisUrl: redis.url, ...(databaseUrl ? { databaseUrl } : {}) });
      }, 30_000);
      afterAll(async () => {
        await h?.close();
        redis?.stop();
        await drop?.();
      });

      const verify = (key: string, cost: number) => new Agent(h.app).req('POST', '/v1/keys/verify', { key, cost });

      it('budget 1,000 at cost 100: spends are refused (503, Retry-After) while Redis refuses commands, and 10 pass in all', async () => {
        const owner = new Agent(h.app);
        await owner.signup(`budget-outage-${storage.name}@example.com`);
        const key = await owner.createKey({ name: 'budget-1000', budget: 1000 });
        const probe = await owner.createKey({ name: 'probe', budget: 1_000_000 });
        const free = await owner.createKey({ name: 'no budget' });

        for (let i = 0; i < 2; i++) expect((await verify(key.raw_key, 100)).body.valid).toBe(true);

        redis.refuse();
        await sleep(500);
        const outage = [];
        for (let i = 0; i < 10; i++) outage.push(await verify(key.raw_key, 100));
        expect(outage.map((r) => r.status)).toEqual(Array(10).fill(503));
        for (const r of outage) {
          expect(r.headers['retry-after']).toMatch(/^\d+$/);
          expect(r.body.error).toMatchObject({ code: 'service_unavailable' });
        }
        // What spends nothing still follows limiter.on_redis_error (open): a per-minute limit fails open.
        expect((await verify(free.raw_key, 0)).body.valid).toBe(true);
        expect((await verify(free.raw_key, 1)).body.valid).toBe(true);

        // Redis comes back knowing less than storage recorded (a replica that lagged): its budget counters say 0.
        for (const k of redis.cli('--scan', '--pattern', '*budget*').split('\n').filter(Boolean)) redis.cli('SET', k, '0');
        redis.answer();
        let back = false;
        for (let i = 0; i < 60 && !back; i++) {
          back = (await verify(probe.raw_key, 1)).body.valid === true;
          if (!back) await sleep(500);
        }
        expect(back).toBe(true);

        const after = [];
        for (let i = 0; i < 12; i++) after.push((await verify(key.raw_key, 100)).body);
        expect(after.filter((b) => b.valid === true)).toHaveLength(8);
        expect(after.at(-1)).toMatchObject({ valid: false, reason: 'budget_exhausted' });
        const usage = await owner.req('GET', `/api/developers/keys/${key.id}/usage`);
        expect(usage.body.budget).toEqual({ limit: 1000, used: 1000, remaining: 0 });
      }, 60_000);
    },
  );
}
