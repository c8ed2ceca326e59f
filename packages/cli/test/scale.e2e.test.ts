import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpAgent, ServerProcess } from './server-process.js';

const dbUrl = process.env.KEYWARD_TEST_DATABASE_URL;
const redisUrl = process.env.KEYWARD_TEST_REDIS_URL;
if (!dbUrl || !redisUrl)
  console.warn('[skip] two-instance test: set KEYWARD_TEST_DATABASE_URL and KEYWARD_TEST_REDIS_URL (as .ci/run does)');

/** Two keyward servers behind an imaginary load balancer: one PostgreSQL, one Redis, one truth. */
describe.skipIf(!dbUrl || !redisUrl)('two server instances on one PostgreSQL and one Redis', () => {
  const name = `kw_scale_${randomBytes(4).toString('hex')}`;
  let a: ServerProcess;
  let b: ServerProcess;

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: dbUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const db = new URL(dbUrl ?? '');
    db.pathname = `/${name}`;
    const env = { KEYWARD_DATABASE_URL: db.toString(), KEYWARD_REDIS_URL: redisUrl ?? '', KEYWARD_SECRET: randomBytes(24).toString('hex') };
    a = new ServerProcess(undefined, env);
    const cfg = join(a.dataDir, 'cfg.json');
    writeFileSync(cfg, JSON.stringify({ default_plan: 'free', plans: { free: { requests_per_minute: 60 } } }));
    a = await new ServerProcess(a.dataDir, env, ['--config', cfg]).start();
    b = await new ServerProcess(undefined, env, ['--config', cfg]).start();
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    const admin = new pg.Client({ connectionString: dbUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });

  it('60 requests split across both instances use up the minute; the 61st is refused by either', async () => {
    const owner = new HttpAgent(a.base);
    await owner.req('POST', '/api/auth/signup', { email: 'scale@example.com', password: 'correct horse battery 9' });
    const key = (await owner.req('POST', '/api/developers/keys', { name: 'shared' })).body.key.raw_key as string;
    const auth = { authorization: `Bearer ${key}` };
    const statuses = [];
    for (let i = 0; i < 60; i++)
      statuses.push((await new HttpAgent(i % 2 ? b.base : a.base).req('GET', '/v1/whoami', undefined, auth)).status);
    expect(statuses.every((s) => s === 200)).toBe(true);
    const onA = await new HttpAgent(a.base).req('GET', '/v1/whoami', undefined, auth);
    const onB = await new HttpAgent(b.base).req('GET', '/v1/whoami', undefined, auth);
    expect([onA.status, onB.status]).toEqual([429, 429]);
    expect(onB.body.error.code).toBe('rate_limited');
  });

  it('a revocation on one instance is enforced by the other within a second', async () => {
    const owner = new HttpAgent(a.base);
    await owner.req('POST', '/api/auth/login', { email: 'scale@example.com', password: 'correct horse battery 9' });
    const made = (await owner.req('POST', '/api/developers/keys', { name: 'to-revoke', tier: 'free' })).body.key;
    const auth = { authorization: `Bearer ${made.raw_key}` };
    expect((await new HttpAgent(b.base).req('GET', '/v1/whoami', undefined, auth)).status).toBe(200); // cached on B
    expect((await owner.req('DELETE', `/api/developers/keys/${made.id}`)).status).toBe(200);
    const started = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - started < 5000) {
      status = (await new HttpAgent(b.base).req('GET', '/v1/whoami', undefined, auth)).status;
    }
    expect(status).toBe(401);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
