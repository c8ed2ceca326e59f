import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineConfig } from '../src/config/load-config.js';
import { keyToRow } from '../src/storage/keys/key-rows.js';
import { KyselyStore } from '../src/storage/kysely-store.js';
import { migrationProvider } from '../src/storage/migrations.js';
import { postgresStore } from '../src/storage/postgres-store.js';
import type { Database } from '../src/storage/schema.js';
import { sqliteStore } from '../src/storage/sqlite-store.js';
import type { ApiKey } from '../src/storage/store.js';
import { keyRecord } from '../src/storage/store-fixtures.contract.js';
import { Agent, bearer, type Harness, startHarness } from './harness.js';
import { freshPostgresDatabase, postgresUrl } from './postgres.js';

if (!postgresUrl) console.warn('[skip] trust: delegation on PostgreSQL: set KEYWARD_TEST_DATABASE_URL to run it (as .ci/run does)');

/**
 * A keyward on each database, and a raw connection to the same database beside it: how a row written before a fix
 * (a child key that stored no allowlist of its own) is put back, as an upgrade finds it.
 */
interface Backend {
  name: string;
  enabled: boolean;
  start(config: unknown): Promise<{ h: Harness; raw: (text: string, params: unknown[]) => Promise<void>; close: () => Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'SQLite',
    enabled: true,
    async start(config) {
      const dir = mkdtempSync(join(tmpdir(), 'kw-trust-'));
      const file = join(dir, 'keyward.db');
      const h = await startHarness(config, { store: sqliteStore(file) });
      const side = new BetterSqlite3(file);
      return {
        h,
        raw: async (text, params) => void side.prepare(text.replace(/\$\d+/g, '?')).run(...params),
        close: async () => {
          side.close();
          await h.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'PostgreSQL',
    enabled: Boolean(postgresUrl),
    async start(config) {
      const db = await freshPostgresDatabase();
      const h = await startHarness(config, {}, { databaseUrl: db.url });
      const side = new pg.Client({ connectionString: db.url });
      await side.connect();
      return {
        h,
        raw: async (text, params) => void (await side.query(text, params)),
        close: async () => {
          await side.end();
          await h.close();
          await db.drop();
        },
      };
    },
  },
];

const from = (ip: string, key: string) => ({ ...bearer(key), 'x-test-remote': ip });

function derive(h: Harness, key: string, body: Record<string, unknown>, ip = '127.0.0.1') {
  return new Agent(h.app).req('POST', '/v1/keys/derive', body, from(ip, key));
}

/** Whether a key is accepted from an address: GET /v1/whoami's status and POST /v1/keys/verify's answer. */
async function seenFrom(h: Harness, key: string, ip: string) {
  const who = await new Agent(h.app).req('GET', '/v1/whoami', undefined, from(ip, key));
  const v = await new Agent(h.app).req('POST', '/v1/keys/verify', { key }, { 'x-test-remote': ip });
  return { whoami: who.status, verify: v.body.valid ? 'valid' : v.body.code };
}

const HELD = { whoami: 403, verify: 'IP_NOT_ALLOWED' };
const OPEN = { whoami: 200, verify: 'valid' };

function exchange(h: Harness, subject: string, ip: string) {
  return h.app.inject({
    method: 'POST',
    url: '/api/cli/token',
    remoteAddress: ip,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      subject_token: subject,
      scope: 'read',
    }).toString(),
  });
}

for (const backend of backends) {
  describe.skipIf(!backend.enabled)(`trust: a child key escapes its parent's IP allowlist (${backend.name})`, () => {
    let run: Awaited<ReturnType<Backend['start']>>;
    let h: Harness;
    let a: Agent;
    const fenced = () => a.createKey({ name: 'ci-only', ip_allowlist: ['127.0.0.1/32'] });
    beforeAll(async () => {
      run = await backend.start({ default_plan: 'business' });
      h = run.h;
      a = new Agent(h.app);
      await a.signup(`fence-${backend.name.toLowerCase()}@example.com`);
    });
    afterAll(() => run?.close());

    it('a child derived with an empty list, or none, inherits the parent allowlist (stored as it is) and is refused from 127.0.0.2', async () => {
      for (const body of [{ ip_allowlist: [] }, {}]) {
        const parent = await fenced();
        expect(await seenFrom(h, parent.raw_key, '127.0.0.2')).toEqual(HELD);
        const r = await derive(h, parent.raw_key, { name: 'child', ...body });
        expect(r.status).toBe(201);
        expect(r.body.key.ip_allowlist).toEqual(['127.0.0.1/32']);
        expect(await seenFrom(h, r.body.key.raw_key, '127.0.0.2')).toEqual(HELD);
        expect(await seenFrom(h, r.body.key.raw_key, '127.0.0.1')).toEqual(OPEN);
        const shown = await a.req('GET', `/api/developers/keys/${r.body.key.id}`);
        expect(shown.body.key.ip_allowlist).toEqual(['127.0.0.1/32']);
      }
    });

    it('a wider list, or one with an entry outside the parent allowlist, is a 403 naming ip_allowlist', async () => {
      for (const list of [['127.0.0.0/8'], ['127.0.0.1/32', '127.0.0.2/32'], ['::1']]) {
        const r = await derive(h, (await fenced()).raw_key, { name: 'child', ip_allowlist: list });
        expect(r.status).toBe(403);
        expect(r.body.error).toMatchObject({ code: 'forbidden', field: 'ip_allowlist' });
      }
    });

    it('a grandchild is held by its grandparent allowlist, and a derive sent from outside an ancestor allowlist is a 403', async () => {
      const child = (await derive(h, (await fenced()).raw_key, { name: 'child', ip_allowlist: [] })).body.key;
      const grandchild = await derive(h, child.raw_key, { name: 'grandchild' });
      expect(grandchild.status).toBe(201);
      expect(grandchild.body.key.ip_allowlist).toEqual(['127.0.0.1/32']);
      expect(await seenFrom(h, grandchild.body.key.raw_key, '127.0.0.2')).toEqual(HELD);
      const outside = await derive(h, child.raw_key, { name: 'grandchild-3' }, '127.0.0.3');
      expect(outside.status).toBe(403);
      expect(outside.body.error).toMatchObject({ code: 'forbidden', reason: 'ip_not_allowed' });
    });

    it('the verifier checks every ancestor allowlist: a child and grandchild stored with no list of their own (made before the fix) are refused from 127.0.0.2', async () => {
      const parent = await fenced();
      const child = (await derive(h, parent.raw_key, { name: 'old child' })).body.key;
      const grandchild = (await derive(h, child.raw_key, { name: 'old grandchild' })).body.key;
      // As the first version stored them: an empty list of their own.
      for (const k of [child, grandchild]) await run.raw("UPDATE api_keys SET ip_allowlist = '[]' WHERE id = $1", [k.id]);
      for (const k of [child, grandchild]) {
        expect((await a.req('GET', `/api/developers/keys/${k.id}`)).body.key.ip_allowlist).toEqual([]);
        expect(await seenFrom(h, k.raw_key, '127.0.0.2')).toEqual(HELD);
        expect(await seenFrom(h, k.raw_key, '127.0.0.1')).toEqual(OPEN);
      }
      // Deriving from the old child stores the allowlist it really has, the nearest ancestor's.
      const fresh = await derive(h, grandchild.raw_key, { name: 'great-grandchild' });
      expect(fresh.status).toBe(201);
      expect(fresh.body.key.ip_allowlist).toEqual(['127.0.0.1/32']);
      expect((await derive(h, grandchild.raw_key, { ip_allowlist: ['127.0.0.0/8'] })).body.error?.field).toBe('ip_allowlist');
      // and an exchange of it sent from outside is refused
      const x = await exchange(h, child.raw_key, '127.0.0.2');
      expect([x.statusCode, x.json().error]).toEqual([400, 'invalid_grant']);
    });

    it('token exchange (RFC 8693) follows the same rule: its key is held, and an exchange sent from outside is invalid_grant', async () => {
      const parent = await fenced();
      const ok = await exchange(h, parent.raw_key, '127.0.0.1');
      expect(ok.statusCode).toBe(200);
      expect(ok.json().key.ip_allowlist).toEqual(['127.0.0.1/32']);
      expect(await seenFrom(h, ok.json().access_token, '127.0.0.2')).toEqual(HELD);
      const outside = await exchange(h, parent.raw_key, '127.0.0.2');
      expect(outside.statusCode).toBe(400);
      expect(outside.json()).toMatchObject({ error: 'invalid_grant' });
      expect(outside.json().access_token).toBeUndefined();
    });
  });

  describe.skipIf(!backend.enabled)(`trust: a key's subtree is unbounded (${backend.name})`, () => {
    let run: Awaited<ReturnType<Backend['start']>>;
    let h: Harness;
    let a: Agent;
    beforeAll(async () => {
      run = await backend.start({ default_plan: 'business', delegation: { max_descendants: 8 } });
      h = run.h;
      a = new Agent(h.app);
      await a.signup(`tree-${backend.name.toLowerCase()}@example.com`);
    });
    afterAll(() => run?.close());

    it('delegation.max_descendants (8) caps the active descendants of a key made by a person: the 9th derive is a 409 that says so', async () => {
      const root = await a.createKey({ name: 'root' });
      const statuses: number[] = [];
      let refusal: { code: string; message: string } | undefined;
      for (let i = 0; i < 3; i++) {
        const c = await derive(h, root.raw_key, { name: `c${i}` });
        statuses.push(c.status);
        for (let j = 0; j < 2; j++) {
          const g = await derive(h, c.body.key.raw_key, { name: `g${i}${j}` });
          statuses.push(g.status);
          if (g.status === 409) refusal = g.body.error;
        }
      }
      expect(statuses).toEqual([201, 201, 201, 201, 201, 201, 201, 201, 409]);
      expect(refusal?.code).toBe('conflict');
      expect(refusal?.message).toContain('delegation.max_descendants');
      // Another key made by a person has a tree of its own.
      expect((await derive(h, (await a.createKey({ name: 'other root' })).raw_key, { name: 'x' })).status).toBe(201);
      // Revoking a child frees its subtree's places (itself and its two children).
      const tree = await a.req('GET', `/api/developers/keys/${root.id}/tree`);
      const firstChild = tree.body.descendants.find((k: { depth: number }) => k.depth === 1);
      expect((await a.req('DELETE', `/api/developers/keys/${firstChild.id}`)).status).toBe(200);
      expect((await derive(h, root.raw_key, { name: 'again' })).status).toBe(201);
    });

    it('parallel derives at the cap never go above it (counted under the organization lock)', async () => {
      const root = await a.createKey({ name: 'race' });
      const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => derive(h, root.raw_key, { name: `r${i}` })));
      expect(rs.filter((r) => r.status === 201)).toHaveLength(8);
      expect(rs.filter((r) => r.status === 409)).toHaveLength(12);
    });
  });
}

describe('trust: delegation.max_descendants in the config', () => {
  const runtime = { host: '127.0.0.1', port: 8787, dataDir: '/nonexistent', databaseUrl: null, redisUrl: null, secret: 's'.repeat(32) };
  it('defaults to 10,000 and refuses a bad value at start, naming it', () => {
    expect(defineConfig({}, runtime).delegation.maxDescendants).toBe(10_000);
    expect(defineConfig({ delegation: { max_descendants: 8 } }, runtime).delegation.maxDescendants).toBe(8);
    expect(() => defineConfig({ delegation: { max_descendants: -1 } }, runtime)).toThrow(/delegation\.max_descendants/);
    expect(() => defineConfig({ delegation: { max_descendants: 'lots' } }, runtime)).toThrow(/delegation\.max_descendants/);
  });
});

/**
 * An upgrade: a database at the migration before the fix holds a child and a grandchild whose ancestry (what the
 * verify path knows of their ancestors) has no allowlists; migrating fills them in from the ancestors' rows.
 */
for (const backend of backends) {
  describe.skipIf(!backend.enabled)(`trust: an upgrade holds children made before the fix (${backend.name})`, () => {
    it("fills in each ancestor's allowlist on the rows of existing child keys", async () => {
      const pgdb = backend.name === 'PostgreSQL' ? await freshPostgresDatabase() : null;
      const store = pgdb
        ? postgresStore(pgdb.url)
        : new KyselyStore(new Kysely<Database>({ dialect: new SqliteDialect({ database: new BetterSqlite3(':memory:') }) }), 'sqlite');
      try {
        const { error } = await new Migrator({ db: store.root, provider: migrationProvider }).migrateTo('0008_imported_keys');
        expect(error).toBeUndefined();
        const db = store.root;
        await db
          .insertInto('users')
          .values({ id: 'usr_1', email: 'old@example.com', name: null, password_hash: 'x', created_at: 1 })
          .execute();
        await db.insertInto('organizations').values({ id: 'org_1', name: 'Old', plan: 'free', created_at: 1 }).execute();
        await db
          .insertInto('members')
          .values({
            id: 'mem_1',
            org_id: 'org_1',
            user_id: 'usr_1',
            email: 'old@example.com',
            role: 'admin',
            created_at: 1,
            joined_at: 1,
          } as never)
          .execute();
        const base = (id: string, over: Partial<ApiKey>): ApiKey =>
          keyRecord('org_1', 'usr_1', { id, name: id, hash: `hash_${id}`, ipAllowlist: [], metadata: {}, ...over });
        const fact = (id: string) => ({ id, lineageId: id, budget: null, requestsPerMinute: null, monthlyRequests: null });
        const rows: [ApiKey, string | null][] = [
          [base('key_root', { ipAllowlist: ['127.0.0.1/32'] }), null],
          [base('key_child', { parentId: 'key_root', depth: 1 }), JSON.stringify([fact('key_root')])],
          [base('key_grand', { parentId: 'key_child', depth: 2 }), JSON.stringify([fact('key_child'), fact('key_root')])],
        ];
        // Rows as they were then: without the columns later migrations add.
        for (const [k, ancestry] of rows) {
          const { idle_timeout_seconds: _idle, scope_request: _request, ...then } = keyToRow(k);
          await db
            .insertInto('api_keys')
            .values({ ...then, ancestry } as never)
            .execute();
        }
        await store.migrate();
        const grand = await store.findKeyForVerify('hash_key_grand');
        expect(grand?.ancestors.map((x) => [x.id, x.ipAllowlist])).toEqual([
          ['key_child', []],
          ['key_root', ['127.0.0.1/32']],
        ]);
        expect((await store.findKeyForVerify('hash_key_child'))?.ancestors.map((x) => x.ipAllowlist)).toEqual([['127.0.0.1/32']]);
        // and the children's own (empty) lists now say what they really allow
        expect((await store.findKey('org_1', 'key_child'))?.ipAllowlist).toEqual(['127.0.0.1/32']);
        expect(grand?.ipAllowlist).toEqual(['127.0.0.1/32']);
      } finally {
        await store.close();
        await pgdb?.drop();
      }
    });
  });
}
