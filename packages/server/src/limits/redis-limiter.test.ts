import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { connectRedis } from '../redis/client.js';
import { limiterContract } from './limiter.contract.js';
import { RedisLimiter } from './redis-limiter.js';

const url = process.env.KEYWARD_TEST_REDIS_URL;
if (!url) console.warn('[skip] Redis limiter suites: set KEYWARD_TEST_REDIS_URL to run them (as .ci/run does)');
const silent = pino({ level: 'silent' });

limiterContract(
  'Redis',
  async () => new RedisLimiter(await connectRedis(url ?? ''), silent, { onRedisError: 'closed', keyPrefix: `kwtest:${Date.now()}:` }),
  Boolean(url),
);

/** A Redis server of this test's own, so that stopping it disturbs nothing else. */
async function ownRedis(port: number): Promise<ChildProcess> {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  for (let i = 0; i < 50; i++) {
    const up = await new Promise<boolean>((ok) => {
      connectRedis(`redis://127.0.0.1:${port}`, 200).then((probe) =>
        probe
          .ping()
          .then(
            () => ok(true),
            () => ok(false),
          )
          .finally(() => probe.disconnect()),
      );
    });
    if (up) return proc;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('redis-server did not start');
}

function freePort(): Promise<number> {
  return new Promise((ok) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

describe.skipIf(!url)('Redis outage', () => {
  const procs: ChildProcess[] = [];
  afterAll(() => {
    for (const p of procs) p.kill('SIGKILL');
  });

  it.each(['open', 'closed'] as const)('fails %s while Redis is down, logs it once, and recovers when it is back', async (mode) => {
    const port = await freePort();
    procs.push(await ownRedis(port));
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
    const limiter = new RedisLimiter(await connectRedis(`redis://127.0.0.1:${port}`), logger, { onRedisError: mode });
    const check = () =>
      limiter.check({
        now: Date.now(),
        cost: 1,
        meters: [{ id: 'key_outage', rate: { limit: 2, periodMs: 60_000 }, quota: null, budget: null }],
      });
    expect((await check()).meters[0]?.rate?.allowed).toBe(true);

    procs.at(-1)?.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 3; i++) {
      if (mode === 'open') expect(await check()).toEqual({ meters: [{ rate: null, quota: null, budget: null }], allowed: true });
      else await expect(check()).rejects.toMatchObject({ code: 'service_unavailable', status: 503 });
    }
    const lease = { id: `lease_outage_${mode}`, now: Date.now(), count: 1, cost: 1 };
    const meters = [{ id: 'key_outage', rate: { limit: 2, periodMs: 60_000 }, quotaMonth: null, budget: false }];
    expect(await limiter.giveBack({ ...lease, meters })).toBe(false); // kept counted: stricter, never looser
    expect(lines.filter((l) => l.includes('Redis unreachable'))).toHaveLength(1);

    procs.push(await ownRedis(port));
    let back = false;
    for (let i = 0; i < 50 && !back; i++) {
      await new Promise((r) => setTimeout(r, 100));
      back = await Promise.resolve(check()).then(
        (r) => r.meters[0]?.rate !== null,
        () => false,
      );
    }
    expect(back).toBe(true);
    expect(lines.some((l) => l.includes('Redis reachable again'))).toBe(true);
    await limiter.close();
  }, 30_000);
});
