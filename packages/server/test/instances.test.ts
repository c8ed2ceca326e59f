import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, bearer, type Harness, startHarness } from './harness.js';
import { freshPostgresDatabase, postgresUrl } from './postgres.js';

if (!postgresUrl) console.warn('[skip] two instances on PostgreSQL: set KEYWARD_TEST_DATABASE_URL to run them (as .ci/run does)');

describe.skipIf(!postgresUrl)('two instances on one PostgreSQL database, no Redis', () => {
  let db: Awaited<ReturnType<typeof freshPostgresDatabase>>;
  let a: Harness;
  let b: Harness;
  beforeAll(async () => {
    db = await freshPostgresDatabase();
    a = await startHarness({ default_plan: 'free' }, {}, { databaseUrl: db.url });
    b = await startHarness({ default_plan: 'free' }, {}, { databaseUrl: db.url });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  it('finding: a revocation did not reach other instances while Redis was down; now it does within a second, over LISTEN/NOTIFY', async () => {
    const owner = new Agent(a.app);
    await owner.signup('instances@example.com');
    const key = await owner.createKey({ name: 'revoke me', scope: 'admin' });
    const onB = () => new Agent(b.app).req('GET', '/v1/whoami', undefined, bearer(key.raw_key));
    expect((await onB()).status).toBe(200); // now cached on B
    expect((await owner.req('DELETE', `/api/developers/keys/${key.id}`)).status).toBe(200);
    const revokedAt = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - revokedAt < 3000) {
      await new Promise((r) => setTimeout(r, 50));
      status = (await onB()).status;
    }
    expect(status).toBe(401);
    expect(Date.now() - revokedAt).toBeLessThan(1000);
    // And B's admin endpoints refuse it too.
    expect((await new Agent(b.app).req('POST', '/api/developers/keys', { name: 'x' }, bearer(key.raw_key))).status).toBe(401);
  });
});
