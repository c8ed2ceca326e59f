import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashKey } from '@keyward/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { progressBar } from '../src/cli/admin-commands.js';
import { exportKeys } from '../src/import/exporter.js';
import { type Claim, describeReport, scopeOfPermissions, sha256HexOf } from '../src/import/importer.js';
import { Agent, bearer, type Harness, startHarness } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'kw-import-test-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const raw = (prefix: string) => `${prefix}${randomBytes(18).toString('base64url')}`;
const sha = (key: string) => createHash('sha256').update(key).digest();
const OPERATOR = 'kwo_import-suite-operator-credential';
const VERIFIER = 'kwv_import-suite-gateway-credential';
const digest = (text: string) => createHash('sha256').update(text).digest('hex');

describe('mapping other products onto keyward', () => {
  it('reads a SHA-256 in hex, base64 or base64url, and refuses anything else', () => {
    const d = sha('some key');
    const hex = d.toString('hex');
    expect(sha256HexOf(hex.toUpperCase(), 'sha256-hex')).toBe(hex);
    expect(sha256HexOf(d.toString('base64'), 'sha256-base64')).toBe(hex);
    expect(sha256HexOf(d.toString('base64url'), 'sha256-base64url')).toBe(hex);
    expect(sha256HexOf(d.toString('base64'), null)).toBe(hex);
    expect(sha256HexOf('not a hash', null)).toBeNull();
    expect(sha256HexOf(createHash('sha1').update('x').digest('hex'), 'sha256-hex')).toBeNull();
  });

  it('maps permissions and roles onto scopes as the table in docs/import.md says', () => {
    expect(scopeOfPermissions([])).toBeNull();
    expect(scopeOfPermissions(['projects.read', 'docs.list'])).toBe('read');
    expect(scopeOfPermissions(['projects.read', 'projects.write'])).toBe('write');
    expect(scopeOfPermissions(['api.delete'])).toBe('write');
    expect(scopeOfPermissions(['agents:run'])).toBe('agentic');
    expect(scopeOfPermissions(['*'])).toBe('admin');
    expect(scopeOfPermissions(['org_admin'])).toBe('admin');
  });
});

describe('importing keys from Unkey, better-auth and CSV', () => {
  let h: Harness;
  let alice: Agent;
  const keys = { aliceRead: raw('acct_'), bobWrite: raw('acct_'), expired: raw('acct_') };
  const csvText = () =>
    [
      'email,name,prefix,hash,hash_format,scope,expires_at,budget,requests_per_minute,metadata',
      `alice@import.example,alice read,acct_,${sha(keys.aliceRead).toString('base64')},sha256-base64,read,,50,,"{""plan"":""pro""}"`,
      `bob@import.example,bob write,acct_,${sha(keys.bobWrite).toString('hex')},sha256-hex,write,,,30,`,
      `bob@import.example,bob expired,acct_,${sha(keys.expired).toString('hex')},sha256-hex,read,2020-01-01,,,`,
      ',no owner,acct_,00,sha256-hex,read,,,,',
      'carol@import.example,bad hash,acct_,xyz,sha256-hex,read,,,,',
      `carol@import.example,bad scope,acct_,${sha('x').toString('hex')},sha256-hex,superuser,,,,`,
    ].join('\n');

  beforeAll(async () => {
    h = await startHarness({
      default_plan: 'pro',
      environments: [
        { name: 'test', prefix: 'kw_test_' },
        { name: 'live', prefix: 'kw_live_' },
      ],
      operator_credentials: [{ name: 'migration', sha256: digest(OPERATOR) }],
      verifier_credentials: [{ name: 'gateway', sha256: digest(VERIFIER) }],
    });
    alice = new Agent(h.app);
    await alice.signup('alice@import.example');
  });
  afterAll(() => h.close());

  const whoami = (key: string) => new Agent(h.app).req('GET', '/v1/whoami', undefined, bearer(key));
  const claims: Claim[] = [];
  const run = (source: 'csv' | 'unkey' | 'better-auth', path: string, dryRun = false) =>
    // The operator vouches for the addresses here (alice signed up herself): owners with an account are matched.
    h.keyward.ctx.importer.run({ source, file: path, dryRun, matchExistingAccounts: true, onClaim: (c) => claims.push(c) });

  it('a dry run maps, counts and explains, and writes nothing', async () => {
    const path = file('keys.csv', csvText());
    const report = await run('csv', path, true);
    expect(report).toMatchObject({
      read: 6,
      created: 3,
      invalid: 3,
      matchedOwners: ['alice@import.example'],
      createdOwners: ['bob@import.example'],
    });
    expect(report.skipped.map((s) => s.reason)).toEqual([
      'no owner (e-mail or external id)',
      'the hash is not a SHA-256 in sha256-hex',
      'scope superuser is not read, agentic, write or admin',
    ]);
    expect((await alice.req('GET', '/api/developers/keys')).body.keys).toEqual([]);
    expect((await whoami(keys.aliceRead)).status).toBe(401);
  });

  it("every original key then works as it is, in its owner's organization, with its settings; the rest do not", async () => {
    const report = await run('csv', file('keys.csv', csvText()));
    expect(report.created).toBe(3);
    const a = await whoami(keys.aliceRead);
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({ scope: 'read', organization: { id: (await alice.req('GET', '/api/me')).body.organization.id } });
    expect(a.body.budget).toEqual({ limit: 50, remaining: 49 });
    const b = await whoami(keys.bobWrite);
    expect([b.status, b.body.scope, b.body.limits.requests_per_minute]).toEqual([200, 'write', 30]);
    expect(b.body.organization.id).not.toBe(a.body.organization.id);
    expect((await whoami(keys.expired)).body.error.reason).toBe('expired');
    expect((await whoami(raw('acct_'))).status).toBe(401);
    const listed = (await alice.req('GET', '/api/developers/keys')).body.keys;
    expect(listed).toMatchObject([{ name: 'alice read', imported_from: 'csv', metadata: { plan: 'pro' } }]);
    // Alice's audit log says where the key came from.
    const events = (await alice.req('GET', '/api/audit')).body.events;
    expect(events).toContainEqual(
      expect.objectContaining({ action: 'keys.imported', data: { source: 'csv', count: 1, by: 'keyward-server admin import' } }),
    );
    expect((await alice.req('GET', '/dashboard/audit')).body).toContain('the server&#39;s operator (an import)');
  });

  it("after its first use a key is stored as keyward's HMAC only, and a re-import skips what is there", async () => {
    const store = h.keyward.store;
    const hex = sha(keys.aliceRead).toString('hex');
    for (let i = 0; i < 50 && (await store.findKeyForVerify(`sha256:${hex}`)); i++) await new Promise((r) => setTimeout(r, 10));
    expect(await store.findKeyForVerify(`sha256:${hex}`)).toBeUndefined();
    expect((await store.findKeyForVerify(hashKey('test-secret-test-secret-test-secret', keys.aliceRead)))?.name).toBe('alice read');
    expect((await whoami(keys.aliceRead)).status).toBe(200); // found by its HMAC now
    const again = await run('csv', file('keys.csv', csvText()));
    expect([again.created, again.alreadyImported]).toEqual([0, 3]);
  });

  it("Unkey's migrateKeys JSON and better-auth's rows import too, owners matched by e-mail or external id", async () => {
    const u1 = raw('sk_');
    const u2 = raw('sk_');
    const u3 = raw('sk_');
    const unkey = {
      keys: [
        {
          hash: sha(u1).toString('base64'),
          prefix: 'sk',
          name: 'unkey one',
          externalId: 'alice@import.example',
          meta: { from: 'unkey' },
          credits: { remaining: 7 },
        },
        {
          hash: sha(u2).toString('base64'),
          prefix: 'sk',
          name: 'unkey two',
          externalId: 'cust_42',
          ratelimits: [{ name: 'default', limit: 5, duration: 1000 }],
          enabled: true,
        },
        { hash: sha(u3).toString('base64'), prefix: 'sk', name: 'unkey off', externalId: 'cust_42', enabled: false },
      ],
    };
    expect((await run('unkey', file('unkey.json', JSON.stringify(unkey)))).created).toBe(3);
    expect((await whoami(u1)).body).toMatchObject({
      organization: { id: (await alice.req('GET', '/api/me')).body.organization.id },
      budget: { limit: 7 },
    });
    expect((await whoami(u2)).body.limits.requests_per_minute).toBe(300);
    expect((await whoami(u3)).body.error.reason).toBe('revoked'); // disabled at the source
    const ba = raw('ba_');
    const rows = [
      {
        id: 'k1',
        key: sha(ba).toString('base64url'),
        name: 'ba key',
        prefix: 'ba_',
        referenceId: 'u1',
        enabled: 1,
        permissions: '{"projects":["read"]}',
        metadata: '"{\\"team\\":\\"x\\"}"',
        createdAt: '2026-01-02T03:04:05.000Z',
        expiresAt: null,
      },
    ];
    const tables = { apikey: rows, user: [{ id: 'u1', email: 'alice@import.example' }] };
    expect((await run('better-auth', file('ba.json', JSON.stringify(tables)))).created).toBe(1);
    const who = await whoami(ba);
    expect([who.status, who.body.scope]).toEqual([200, 'read']);
    const key = (await alice.req('GET', `/api/developers/keys/${who.body.id}`)).body.key;
    expect(key).toMatchObject({ metadata: { team: 'x' }, created_at: '2026-01-02T03:04:05.000Z', imported_from: 'better-auth' });
  });

  it('a new owner claims the imported keys with the link the import made, never with the e-mail alone', async () => {
    const signup = (body: object) => new Agent(h.app).req('POST', '/api/auth/signup', { password: 'a long password 123', ...body });
    const taken = await signup({ email: 'bob@import.example' });
    expect([taken.status, taken.body.error.message]).toEqual([
      409,
      "Keys were imported for this address: create the account with the link the server's operator sent you.",
    ]);
    const link = claims.find((c) => c.email === 'bob@import.example')?.link ?? '';
    expect(link).toMatch(/^http:\/\/127\.0\.0\.1:8787\/signup\?invite_token=kwi_/);
    const token = new URL(link).searchParams.get('invite_token') ?? '';
    expect((await signup({ email: 'mallory@import.example', invite_token: token })).body.error.message).toBe(
      'This invitation was sent to another e-mail address.',
    );
    const bob = new Agent(h.app);
    expect(
      (await bob.req('POST', '/api/auth/signup', { email: 'bob@import.example', password: 'a long password 123', invite_token: token }))
        .status,
    ).toBe(201);
    const mine = (await bob.req('GET', '/api/developers/keys')).body.keys;
    expect(mine.map((k: { name: string }) => k.name).sort()).toEqual(['bob expired', 'bob write']);
    expect((await signup({ email: 'bob@import.example', invite_token: token })).status).toBe(409); // claimed: an account like any
    expect(
      (await new Agent(h.app).req('POST', '/api/auth/login', { email: 'bob@import.example', password: 'a long password 123' })).status,
    ).toBe(200);

    // The dashboard marks them, and says what rotating does.
    const page = await bob.req('GET', '/dashboard/keys');
    expect(page.body).toContain('imported from csv — rotate it for a keyward key');
    // Rotating an imported key gives a key of keyward's format.
    const write = mine.find((k: { name: string }) => k.name === 'bob write');
    const rotated = await bob.req('POST', `/api/developers/keys/${write.id}/rotate`, { grace_period_seconds: 0 });
    expect(rotated.body.key.raw_key).toMatch(/^kw_test_/);
    expect(rotated.body.key.imported_from).toBeNull();
    expect((await whoami(keys.bobWrite)).status).toBe(401);
  });

  it('an owner known by an external id claims with an address of their own; a new link replaces a lost one', async () => {
    const first = claims.find((c) => c.email === 'cust_42@imported.invalid');
    expect(first).toBeDefined();
    const again = await h.keyward.ctx.importer.newClaimLink('cust_42@imported.invalid');
    const tokenOf = (c: Claim | undefined) => new URL(c?.link ?? 'http://x').searchParams.get('invite_token') ?? '';
    const signup = (token: string) =>
      new Agent(h.app).req('POST', '/api/auth/signup', {
        email: 'ops@cust42.example',
        password: 'a long password 123',
        invite_token: token,
      });
    expect((await signup(tokenOf(first))).status).toBe(400); // the earlier link no longer works
    const page = await new Agent(h.app).req('GET', `/signup?invite_token=${tokenOf(again)}`);
    expect(page.body).toContain('as <strong>admin</strong>');
    const claimed = await signup(tokenOf(again));
    expect([claimed.status, claimed.body.user.email]).toEqual([201, 'ops@cust42.example']);
    await expect(h.keyward.ctx.importer.newClaimLink('ops@cust42.example')).rejects.toThrow('not an account an import made');
  });

  it('a leaked imported key is found like any key: scan --check says live, a leak report revokes it', async () => {
    const k = raw('sk_');
    const csv = `email,name,prefix,hash\nalice@import.example,to leak,sk_,${sha(k).toString('hex')}\n`;
    await run('csv', file('leak.csv', csv));
    const check = await new Agent(h.app).req('POST', '/v1/keys/check', { keys: [k] });
    expect(check.body.keys).toEqual([{ display: expect.stringMatching(/…/), status: 'live' }]);
    expect((await new Agent(h.app).req('POST', '/v1/keys/report-leak', { key: k, url: 'https://example.com/paste' })).status).toBe(202);
    let who = await whoami(k);
    for (let i = 0; i < 50 && who.status === 200; i++) {
      await new Promise((r) => setTimeout(r, 10));
      who = await whoami(k);
    }
    expect([who.status, who.body.error.reason]).toEqual([401, 'revoked']);
  });

  it('POST /api/admin/import takes the same input from an operator credential only', async () => {
    const k = raw('acct_');
    const data = `email,name,prefix,hash,hash_format,scope\ndave@import.example,over http,acct_,${sha(k).toString('hex')},sha256-hex,read\n`;
    const post = (headers?: Record<string, string>) => new Agent(h.app).req('POST', '/api/admin/import', { from: 'csv', data }, headers);
    expect((await post()).status).toBe(401);
    const aliceKey = await alice.createKey({ name: 'not an operator', scope: 'admin' });
    expect((await post(bearer(aliceKey.raw_key))).status).toBe(401);
    // A gateway's verifier credential checks keys; it cannot bring any in.
    expect((await post(bearer(VERIFIER))).status).toBe(401);
    expect((await alice.req('POST', '/api/admin/import', { from: 'csv', data })).status).toBe(401); // an org admin's session
    const op = await new Agent(h.app).req('POST', '/api/admin/import', { from: 'csv', data }, bearer(OPERATOR));
    expect(op.status).toBe(200);
    expect(op.body).toMatchObject({ created: 1, created_owners: ['dave@import.example'] });
    expect(op.body.claims).toMatchObject([{ email: 'dave@import.example', link: expect.stringContaining('/signup?invite_token=kwi_') }]);
    expect((await whoami(k)).status).toBe(200);
  });
});

describe('export: leaving keyward is as easy as coming', () => {
  it('writes every key as a hash; a server with the same secret imports the file and every key works there as before', async () => {
    const envs = {
      environments: [
        { name: 'test', prefix: 'kw_test_' },
        { name: 'live', prefix: 'kw_live_' },
      ],
      default_plan: 'pro',
    };
    const from = await startHarness(envs);
    const to = await startHarness(envs);
    try {
      const owner = new Agent(from.app);
      await owner.signup('owner@export.example');
      const made = await owner.createKey({ name: 'made here, live', scope: 'write', environment: 'live' });
      const revoked = await owner.createKey({ name: 'revoked here' });
      await owner.req('DELETE', `/api/developers/keys/${revoked.id}`);
      const used = raw('acct_');
      const unused = raw('acct_');
      const csv = [
        'email,name,prefix,hash,hash_format,scope',
        `owner@export.example,imported and used,acct_,${sha(used).toString('hex')},sha256-hex,read`,
        `owner@export.example,"imported, never used",acct_,${sha(unused).toString('hex')},sha256-hex,read`,
      ].join('\n');
      await from.keyward.ctx.importer.run({ source: 'csv', file: file('to-export.csv', csv), matchExistingAccounts: true });
      expect((await new Agent(from.app).req('GET', '/v1/whoami', undefined, bearer(used))).status).toBe(200);
      const store = from.keyward.store;
      for (let i = 0; i < 50 && (await store.findKeyForVerify(`sha256:${sha(used).toString('hex')}`)); i++)
        await new Promise((r) => setTimeout(r, 10));

      const lines: string[] = [];
      expect(await exportKeys(store, (l) => lines.push(l))).toBe(4);
      const text = lines.join('\n');
      expect(text).not.toContain(made.raw_key);
      expect(lines[0]).toBe(
        'email,name,prefix,hash,hash_format,scope,expires_at,budget,requests_per_minute,metadata,environment,enabled,created_at,last_used_at',
      );
      // Never used here: the SHA-256 its former product stored, so any product can take it back.
      expect(lines.find((l) => l.includes('never used'))).toContain(`${sha(unused).toString('hex')},sha256-hex`);
      expect(lines.find((l) => l.includes('made here'))).toMatch(/,hmac-sha256-hex,write,.*,live,true,/);
      expect(lines.find((l) => l.includes('revoked here'))).toMatch(/,test,false,/);

      const report = await to.keyward.ctx.importer.run({ source: 'csv', file: file('exported.csv', text) });
      expect([report.created, report.invalid]).toEqual([4, 0]);
      const there = (key: string) => new Agent(to.app).req('GET', '/v1/whoami', undefined, bearer(key));
      expect((await there(made.raw_key)).body).toMatchObject({ name: 'made here, live', scope: 'write', environment: 'live' });
      expect((await there(used)).body).toMatchObject({ name: 'imported and used', scope: 'read' });
      expect((await there(unused)).body).toMatchObject({ name: 'imported, never used' });
      expect((await there(revoked.raw_key)).body.error.reason).toBe('revoked');
      const again = await to.keyward.ctx.importer.run({ source: 'csv', file: file('exported.csv', text) });
      expect([again.created, again.alreadyImported]).toEqual([0, 4]);
    } finally {
      await from.close();
      await to.close();
    }
  });

  it('refuses a row for an environment the server does not have, naming the ones it has', async () => {
    const h = await startHarness();
    try {
      const csv = `email,name,prefix,hash,environment\na@env.example,k,x_,${sha('k').toString('hex')},staging\n`;
      const report = await h.keyward.ctx.importer.run({ source: 'csv', file: file('env.csv', csv), dryRun: true });
      expect(report.skipped).toEqual([
        { record: 1, where: 'line 2', reason: "environment staging is not one of this server's (test, live)" },
      ]);
    } finally {
      await h.close();
    }
  });
});

describe('input an import cannot read', () => {
  it('says which file or line is wrong, and that a file has no records', async () => {
    const h = await startHarness();
    try {
      const run = (source: 'csv' | 'unkey', path: string) => h.keyward.ctx.importer.run({ source, file: path });
      await expect(run('csv', join(dir, 'missing.csv'))).rejects.toThrow(`cannot read ${join(dir, 'missing.csv')}: no such file`);
      await expect(run('unkey', file('broken.json', '[{"hash'))).rejects.toThrow(/^the file is not valid JSON/);
      await expect(run('unkey', file('broken.jsonl', '{"hash":"x"}\n{oops\n'))).rejects.toThrow(/^line 2 is not valid JSON/);
      await expect(run('unkey', file('doc.json', '{"keys": 5}'))).rejects.toThrow('a JSON document must be a list of keys');
      const empty = await run('csv', file('empty.csv', 'email,hash\n'));
      expect(describeReport(empty)).toContain(
        'The file has no records for --from csv: see `keyward-server admin import --help` for what it reads.',
      );
    } finally {
      await h.close();
    }
  });
});

describe('the import progress bar', () => {
  it('shows the share of the file read, the records and the seconds', () => {
    expect(progressBar(0.5, 500_000, 12.34)).toBe('[████████████░░░░░░░░░░░░]  50%  500,000 records  12.3 s');
    expect(progressBar(1, 3, 0)).toBe('[████████████████████████] 100%  3 records  0.0 s');
  });
});
