import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, HttpAgent, ServerProcess } from './server-process.js';

const hasRedis = Boolean(process.env.KEYWARD_TEST_REDIS_URL);
if (!hasRedis) console.warn('[skip] Redis outage end to end: set KEYWARD_TEST_REDIS_URL (as .ci/run does)');

/** A redis-server of this test's own on `port`, so that stopping it disturbs nothing else. */
async function redisOn(port: number): Promise<ChildProcess> {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  for (let i = 0; i < 50; i++) {
    const up = await new Promise<boolean>((ok) => {
      const s = connect(port, '127.0.0.1', () => {
        s.end();
        ok(true);
      });
      s.on('error', () => ok(false));
    });
    if (up) return proc;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('redis-server did not start');
}

describe.skipIf(!hasRedis)('Redis stops while the server runs', () => {
  const procs: ChildProcess[] = [];
  const servers: ServerProcess[] = [];
  afterAll(async () => {
    for (const s of servers) await s.stop();
    for (const p of procs) p.kill('SIGKILL');
  });

  it.each(['open', 'closed'] as const)('fail %s: the documented answer, no crash, and limits again once Redis is back', async (mode) => {
    const port = await freePort();
    procs.push(await redisOn(port));
    const first = new ServerProcess(undefined, { KEYWARD_REDIS_URL: `redis://127.0.0.1:${port}` });
    const cfg = join(first.dataDir, 'cfg.json');
    writeFileSync(cfg, JSON.stringify({ default_plan: 'free', limiter: { on_redis_error: mode } }));
    const server = await new ServerProcess(first.dataDir, first.env, ['--config', cfg]).start();
    servers.push(server);
    const owner = await HttpAgent.newAccount(server.base, `outage-${mode}@example.com`);
    const key = await owner.newKey();
    const whoami = () => new HttpAgent(server.base).req('GET', '/v1/whoami', undefined, { authorization: `Bearer ${key}` });
    expect((await whoami()).headers.get('ratelimit-limit')).toBe('60');

    procs.at(-1)?.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 3; i++) {
      const r = await whoami();
      if (mode === 'open') {
        expect(r.status).toBe(200);
        expect(r.headers.get('ratelimit-limit')).toBeNull();
      } else {
        expect(r.status).toBe(503);
        expect(r.body.error.code).toBe('service_unavailable');
        expect(r.headers.get('retry-after')).toBe('1');
      }
    }
    expect((await fetch(`${server.base}/health`)).status).toBe(200);
    expect((await server.waitForOutput('Redis unreachable')).match(/Redis unreachable/g)).toHaveLength(1);

    procs.push(await redisOn(port));
    let limited = false;
    for (let i = 0; i < 50 && !limited; i++) {
      await new Promise((r) => setTimeout(r, 100));
      limited = (await whoami()).headers.get('ratelimit-limit') === '60';
    }
    expect(limited).toBe(true);
    expect(await server.waitForOutput('Redis reachable again')).toContain('Redis reachable again');
  }, 30_000);
});

describe('a request with odd bytes in a header', () => {
  it('gets a 400 in the envelope, and the server keeps serving', async () => {
    const server = await new ServerProcess().start();
    try {
      const port = Number(new URL(server.base).port);
      const answer = await new Promise<string>((ok, fail) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.write(
            Buffer.from(
              'GET /v1/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Odd: a\u0001b\u0000c\r\nAuthorization: Bearer \u00ff\u00fe\r\n\r\n',
              'latin1',
            ),
          );
        });
        let data = '';
        socket.on('data', (d) => {
          data += d;
        });
        socket.on('end', () => ok(data));
        socket.on('error', fail);
      });
      expect(answer).toMatch(/^HTTP\/1\.1 400/);
      expect(answer).toContain('"code":"invalid_request"');
      expect((await fetch(`${server.base}/health`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});
