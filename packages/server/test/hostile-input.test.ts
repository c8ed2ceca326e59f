import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../src/storage/store.js';
import { Agent, bearer, type Harness, startHarness } from './harness.js';
import { freshPostgresStore, postgresUrl } from './postgres.js';

if (!postgresUrl) console.warn('[skip] hostile input on PostgreSQL: set KEYWARD_TEST_DATABASE_URL to run it (as .ci/run does)');

/** The hardening review's findings on hostile text, on SQLite always and on PostgreSQL (which refuses NUL in text). */
function hostileInput(name: string, makeStore: (() => Promise<Store>) | null) {
  describe.skipIf(!makeStore)(`hostile input (${name})`, () => {
    let h: Harness;
    let a: Agent;
    let key: { id: string; raw_key: string };
    beforeAll(async () => {
      h = await startHarness({ default_plan: 'free' }, makeStore ? { store: await makeStore() } : {});
      a = new Agent(h.app);
      await a.signup(`hostile-${name}@example.com`);
      key = await a.createKey({ name: 'target' });
    });
    afterAll(() => h?.close());

    const refused = (r: { status: number; body: any }) => {
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
      expect(r.body.error.message).toMatch(/control characters|nested too deeply|more than once/);
    };

    it('finding: NUL in the verify path, the signup name, the login e-mail, ?environment= and ?key_id= answered 500 on PostgreSQL', async () => {
      refused(await a.req('POST', '/v1/keys/verify', { key: key.raw_key, path: '/a\u0000b' }));
      refused(
        await new Agent(h.app).req('POST', '/api/auth/signup', { email: 'n@example.com', password: 'long enough pw', name: 'a\u0000b' }),
      );
      refused(await new Agent(h.app).req('POST', '/api/auth/login', { email: 'a\u0000b@example.com', password: 'whatever' }));
      refused(await a.req('GET', '/api/developers/keys?environment=%00'));
      refused(await a.req('GET', '/api/audit?key_id=%00'));
      refused(await a.req('POST', '/api/developers/keys', { name: 'tab\u0007bell' }));
      // Line breaks inside JSON text (metadata notes, say) are fine; only controls no one types are refused.
      expect((await a.req('POST', '/api/developers/keys', { name: 'notes', metadata: { note: 'two\nlines' } })).status).toBe(201);
    });

    it('finding: metadata nested 5,000 deep answered 500', async () => {
      const deep = `{"name":"deep","metadata":{"a":${'['.repeat(5000)}${']'.repeat(5000)}}}`;
      refused(await a.req('POST', '/api/developers/keys', deep));
    });

    it('finding: a repeated user_code query parameter answered 500', async () => {
      const page = await a.req('GET', '/device?user_code=BCDF-GHJK&user_code=LMNP-QRST');
      expect(page.status).toBe(400);
      expect(page.headers['content-type']).toMatch(/text\/html/);
    });

    it('finding: one NUL byte stopped usage accounting for every tenant: a refused row is dropped alone, counters keep flowing', async () => {
      const other = await a.createKey({ name: 'other tenant' });
      const dropped: string[] = [];
      const logsBefore = h.logs.length;
      const now = h.clock.now();
      // A row no edge rule would let through any more, written straight into the recorder.
      h.keyward.recorder.record(key.id, 'org', true, now, 'GET', '/a\u0000b', 200, '127.0.0.1');
      h.keyward.recorder.record(other.id, 'org', true, now, 'GET', '/fine', 200, '127.0.0.1');
      await h.keyward.recorder.flush();
      for (const line of h.logs.slice(logsBefore)) if (line.includes('dropped')) dropped.push(line);
      expect(h.keyward.recorder.pendingRows).toBe(0);
      for (let i = 0; i < 3; i++) expect((await a.req('GET', '/v1/whoami', undefined, bearer(other.raw_key))).status).toBe(200);
      await h.keyward.recorder.flush();
      const usage = await a.req('GET', `/api/developers/keys/${other.id}/usage`);
      expect(usage.body.month.used).toBe(4);
      expect(usage.body.recent_requests.map((r: { path: string }) => r.path)).toContain('/fine');
      if (name === 'PostgreSQL') {
        expect(dropped).toHaveLength(1);
        const metrics = await a.req('GET', '/metrics');
        expect(metrics.body).toMatch(/keyward_usage_rows_dropped_total\{kind="request_log"\} 1/);
      }
      expect((await a.req('GET', `/api/developers/keys/${key.id}/usage`)).body.month.used).toBe(1);
    });
  });
}

hostileInput('SQLite', async () => (await import('../src/storage/sqlite-store.js')).sqliteStore(':memory:'));
hostileInput('PostgreSQL', postgresUrl ? freshPostgresStore : null);

describe('usage while storage is unreachable', () => {
  it('finding: pending counters grew without bound; now they stay merged per key and day, and retries back off', async () => {
    const { sqliteStore } = await import('../src/storage/sqlite-store.js');
    const store = sqliteStore(':memory:');
    let down = false;
    let attempts = 0;
    const recordUsage = store.recordUsage.bind(store);
    // The real store, cut off from the recorder as a dropped connection would: an error with no SQL state.
    store.recordUsage = async (batch) => {
      if (down) {
        attempts++;
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      }
      return recordUsage(batch);
    };
    const h = await startHarness({ default_plan: 'free' }, { store });
    try {
      const a = new Agent(h.app);
      await a.signup('outage@example.com');
      const key = await a.createKey({ name: 'busy' });
      down = true;
      let after30s = 0;
      for (let second = 1; second <= 60; second++) {
        for (let i = 0; i < 50; i++) h.keyward.recorder.record(key.id, 'org', true, h.clock.now(), 'GET', '/x', 200, '127.0.0.1');
        await h.keyward.recorder.flush();
        h.clock.advance(1000);
        if (second === 30) after30s = h.keyward.recorder.pendingRows;
      }
      // One counter per key and day however long the outage, the request log at its cap: no growth after it
      // fills, and far fewer attempts than flushes.
      expect(h.keyward.recorder.pendingRows).toBe(after30s);
      expect(attempts).toBeLessThan(12);
      down = false;
      h.clock.advance(30_000);
      await h.keyward.recorder.flush();
      expect(h.keyward.recorder.pendingRows).toBe(0);
      expect((await a.req('GET', `/api/developers/keys/${key.id}/usage`)).body.month.used).toBe(3000);
    } finally {
      await h.close();
    }
  });
});
