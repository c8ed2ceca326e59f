import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportKeys } from '../src/import/exporter.js';
import type { Claim } from '../src/import/importer.js';
import type { Store } from '../src/storage/store.js';
import { Agent, bearer, type Harness, startHarness } from './harness.js';
import { freshPostgresStore, postgresUrl } from './postgres.js';

if (!postgresUrl) console.warn('[skip] import trust on PostgreSQL: set KEYWARD_TEST_DATABASE_URL to run it (as .ci/run does)');

const dir = mkdtempSync(join(tmpdir(), 'kw-trust-import-'));
const file = (name: string, text: string) => {
  const p = join(dir, `${randomBytes(4).toString('hex')}-${name}`);
  writeFileSync(p, text);
  return p;
};
const raw = () => `sk_live_${randomBytes(24).toString('base64url')}`;
const hex = (key: string) => createHash('sha256').update(key).digest('hex');
const csvOf = (rows: [email: string, name: string, key: string][]) =>
  [
    'email,name,prefix,hash,hash_format,scope,budget',
    ...rows.map(([e, n, k]) => `${e},${n},sk_live_,${hex(k)},sha256-hex,write,5000`),
  ].join('\n');
const tokenOf = (c: Claim | undefined) => new URL(c?.link ?? 'http://x').searchParams.get('invite_token') ?? '';
const OPERATOR = 'kwo_trust-import-operator-credential';

/** Finding 1, on each database: an account's address proves nothing, so an import never hands it keys by it alone. */
function importByEmail(name: string, makeStore: (() => Promise<Store>) | null) {
  describe.skipIf(!makeStore)(`trust: registering someone's e-mail first takes their imported keys (${name})`, () => {
    let h: Harness;
    const claims: Claim[] = [];
    const whoami = (key: string) => new Agent(h.app).req('GET', '/v1/whoami', undefined, bearer(key));
    const orgOf = async (a: Agent) => (await a.req('GET', '/api/me')).body.organization.id as string;
    const run = (path: string, matchExistingAccounts = false) =>
      h.keyward.ctx.importer.run({ source: 'csv', file: path, matchExistingAccounts, onClaim: (c) => claims.push(c) });

    beforeAll(async () => {
      const config = { default_plan: 'pro', operator_credentials: [{ name: 'ops', sha256: hex(OPERATOR) }] };
      h = await startHarness(config, makeStore ? { store: await makeStore() } : {});
    });
    afterAll(() => h?.close());

    it("an account made with the owner's address gets none of the keys: they are held for the claim link, and work", async () => {
      const attacker = new Agent(h.app);
      await attacker.signup('victim@corp.example');
      const key = raw();
      const report = await run(file('victim.csv', csvOf([['victim@corp.example', 'prod key', key]])));
      expect(report).toMatchObject({ created: 1, matchedOwners: [], heldOwners: ['victim@corp.example'] });
      expect((await attacker.req('GET', '/api/developers/keys')).body.keys).toEqual([]);
      const who = await whoami(key);
      expect(who.status).toBe(200); // imported, waiting for its owner
      expect(who.body.organization.id).not.toBe(await orgOf(attacker));
      const rotate = await attacker.req('POST', `/api/developers/keys/${who.body.id}/rotate`, { grace_period_seconds: 0 });
      expect(rotate.status).toBe(404);
      const claim = claims.find((c) => c.email === 'victim@corp.example');
      expect(claim?.link).toMatch(/^http:\/\/127\.0\.0\.1:8787\/signup\?invite_token=kwi_/);
      expect(claim?.organizationId).toBe(who.body.organization.id);
      // A re-import with more keys of that owner finds the same held organization, and sends no second link.
      const more = raw();
      const again = await run(file('victim-2.csv', csvOf([['victim@corp.example', 'second key', more]])));
      expect(again.heldOwners).toEqual(['victim@corp.example']);
      expect((await whoami(more)).body.organization.id).toBe(who.body.organization.id);
      expect(claims.filter((c) => c.email === 'victim@corp.example')).toHaveLength(1);
      // Its owner can still get a fresh link (the first was lost): the held account's, not the squatter's.
      const fresh = await h.keyward.ctx.importer.newClaimLink('victim@corp.example');
      expect(fresh.organizationId).toBe(who.body.organization.id);
      claims.push(fresh);
    });

    it('a signed-in account claims the held keys by opening the link: they move into its organization, once', async () => {
      const owner = new Agent(h.app);
      await owner.signup('the-real-owner@corp.example');
      const link = claims.filter((c) => c.email === 'victim@corp.example').at(-1);
      const opened = await owner.req('GET', `/signup?invite_token=${tokenOf(link)}`, undefined, { accept: 'text/html' });
      expect(opened.status).toBe(200);
      const page = String(opened.body);
      expect(page).toContain('Claim the imported keys');
      const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? '';
      const post = (a: Agent, token: string, csrfOf = csrf) =>
        a.req('POST', '/claim', new URLSearchParams({ csrf: csrfOf, invite_token: token }).toString(), {
          'content-type': 'application/x-www-form-urlencoded',
          origin: 'http://127.0.0.1:8787',
          accept: 'text/html',
        });
      // Bringing keys into an organization is an admin's act: a read member of it sees why, and its post is refused.
      const invite = await owner.req('POST', '/api/org/members', { email: 'reader@corp.example', role: 'read' });
      const reader = new Agent(h.app);
      await reader.signup('reader@corp.example', { invite_token: invite.body.invite_token });
      const readerPage = String(
        (await reader.req('GET', `/signup?invite_token=${tokenOf(link)}`, undefined, { accept: 'text/html' })).body,
      );
      expect(readerPage).toContain('Only an admin of');
      const readerCsrf = /name="csrf" value="([^"]+)"/.exec(
        String((await reader.req('GET', '/dashboard/keys', undefined, { accept: 'text/html' })).body),
      )?.[1];
      expect((await post(reader, tokenOf(link), readerCsrf)).status).toBe(403);
      const claimed = await post(owner, tokenOf(link));
      expect([claimed.status, claimed.headers.location]).toEqual([303, '/dashboard/keys']);
      const mine = (await owner.req('GET', '/api/developers/keys')).body.keys.map((k: { name: string }) => k.name).sort();
      expect(mine).toEqual(['prod key', 'second key']);
      const held = claims.find((c) => c.email === 'victim@corp.example');
      const who = await whoami(raw()); // an unknown key: nothing left over
      expect(who.status).toBe(401);
      const keys = (await owner.req('GET', '/api/developers/keys')).body.keys as { id: string }[];
      for (const k of keys) {
        const rotated = await owner.req('POST', `/api/developers/keys/${k.id}/rotate`, { grace_period_seconds: 0 });
        expect(rotated.status).toBe(201);
        expect((await whoami(rotated.body.key.raw_key)).body.organization.id).toBe(await orgOf(owner));
      }
      expect(held?.organizationId).not.toBe(await orgOf(owner));
      // The link is used up: a second claim, by anyone, is refused.
      const other = new Agent(h.app);
      await other.signup('someone-else@corp.example');
      // The link shows no claim any more; a post of it with the other account's own CSRF token is refused.
      const reopened = String((await other.req('GET', `/signup?invite_token=${tokenOf(link)}`, undefined, { accept: 'text/html' })).body);
      expect(reopened).toContain('invalid, used or expired');
      const dashboard = String((await other.req('GET', '/dashboard/keys', undefined, { accept: 'text/html' })).body);
      const second = await post(other, tokenOf(link), /name="csrf" value="([^"]+)"/.exec(dashboard)?.[1] ?? '');
      expect(second.status).toBe(400);
      expect(String(second.body)).toContain('The invitation is invalid or has expired.');
      expect((await other.req('GET', '/api/developers/keys')).body.keys).toEqual([]);
    });

    it('with --match-existing-accounts (the operator vouches for the addresses) the key goes to the account at once', async () => {
      const vouched = new Agent(h.app);
      await vouched.signup('vouched@corp.example');
      const key = raw();
      const report = await run(file('vouched.csv', csvOf([['vouched@corp.example', 'vouched key', key]])), true);
      expect(report).toMatchObject({ created: 1, matchedOwners: ['vouched@corp.example'], heldOwners: [] });
      expect((await whoami(key)).body.organization.id).toBe(await orgOf(vouched));
    });

    it('POST /api/admin/import holds them too, and takes match_existing_accounts', async () => {
      const squatter = new Agent(h.app);
      await squatter.signup('api-victim@corp.example');
      const k1 = raw();
      const k2 = raw();
      const post = (data: string, match?: boolean) =>
        new Agent(h.app).req(
          'POST',
          '/api/admin/import',
          { from: 'csv', data, ...(match === undefined ? {} : { match_existing_accounts: match }) },
          bearer(OPERATOR),
        );
      const held = await post(csvOf([['api-victim@corp.example', 'api key', k1]]));
      expect(held.status).toBe(200);
      expect(held.body).toMatchObject({ created: 1, matched_owners: [], held_owners: ['api-victim@corp.example'] });
      expect(held.body.claims).toMatchObject([{ email: 'api-victim@corp.example', link: expect.stringContaining('invite_token=kwi_') }]);
      expect((await squatter.req('GET', '/api/developers/keys')).body.keys).toEqual([]);
      const matched = await post(csvOf([['api-victim@corp.example', 'vouched api key', k2]]), true);
      expect(matched.body).toMatchObject({ created: 1, matched_owners: ['api-victim@corp.example'] });
      expect((await whoami(k2)).body.organization.id).toBe(await orgOf(squatter));
    });
  });
}

importByEmail('SQLite', async () => {
  const { sqliteStore } = await import('../src/storage/sqlite-store.js');
  return sqliteStore(':memory:');
});
importByEmail('PostgreSQL', postgresUrl ? freshPostgresStore : null);

describe('trust: the import endpoint reads 64 MB bodies before checking the credential', () => {
  let h: Harness;
  let port: number;
  beforeAll(async () => {
    h = await startHarness({ default_plan: 'free', operator_credentials: [{ name: 'ops', sha256: hex(OPERATOR) }] });
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    port = (h.app.server.address() as { port: number }).port;
  });
  afterAll(() => h?.close());

  /** Sends the head of a 40 MB POST and 1 KB of its body, then waits: what the server answers before the rest. */
  const headOnly = (authorization?: string) =>
    new Promise<{ answer: string; closed: boolean }>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let answer = '';
      let closed = false;
      const done = () => resolve({ answer, closed });
      const timer = setTimeout(() => {
        socket.destroy();
        done();
      }, 3000);
      socket.on('data', (d) => {
        answer += d.toString('latin1');
      });
      socket.on('close', () => {
        closed = true;
        clearTimeout(timer);
        done();
      });
      socket.on('error', () => {});
      socket.write(
        `POST /api/admin/import HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n${
          authorization ? `Authorization: ${authorization}\r\n` : ''
        }Content-Length: ${40 << 20}\r\n\r\n{"from":"csv","data":"${'a,'.repeat(512)}`,
      );
    });

  it('an unauthenticated body is refused (401, connection closed) before it is read', async () => {
    const started = Date.now();
    const { answer, closed } = await headOnly();
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer.toLowerCase()).toContain('connection: close');
    expect(answer).toContain('"code":"unauthorized"');
    expect(closed).toBe(true);
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('a key or a wrong credential is refused the same way; the operator credential still reads its body', async () => {
    expect((await headOnly('Bearer kwo_not-the-operator')).answer).toMatch(/^HTTP\/1\.1 401 /);
    // The operator's request waits for its body (nothing answered while it is unread): authentication passed.
    expect((await headOnly(`Bearer ${OPERATOR}`)).answer).toBe('');
    const small = await new Agent(h.app).req(
      'POST',
      '/api/admin/import',
      { from: 'csv', data: 'email,name,prefix,hash\n', dry_run: true },
      bearer(OPERATOR),
    );
    expect(small.status).toBe(200);
  });
});

describe('trust: admin export writes key names such as =HYPERLINK(…) as live spreadsheet formulas', () => {
  const names = ['=HYPERLINK("http://x","y")', '+SUM(1,1)', '-2+3', '@SUM(1,1)', "'quoted", 'plain name'];

  it('escapes formula cells with a leading apostrophe; the names stay stored verbatim and import reads them back', async () => {
    const envs = { default_plan: 'business' };
    const from = await startHarness(envs);
    const to = await startHarness(envs);
    try {
      const a = new Agent(from.app);
      await a.signup('formulas@export.example');
      for (const n of names) expect((await a.createKey({ name: n })).name).toBe(n);
      const lines: string[] = [];
      await exportKeys(from.keyward.store, (l) => lines.push(l));
      const cells = lines.slice(1).map((l) => {
        const m = /^[^,]*,("(?:[^"]|"")*"|[^,]*),/.exec(l);
        const cell = m?.[1] ?? '';
        return cell.startsWith('"') ? cell.slice(1, -1).replace(/""/g, '"') : cell;
      });
      for (const cell of cells) expect(cell[0] ?? '').not.toMatch(/[=+\-@\t\r]/);
      expect(cells).toContain(`'=HYPERLINK("http://x","y")`);
      expect(cells).toContain("''quoted");
      expect(cells).toContain('plain name');
      // Stored verbatim; the file a keyward server reads back gives the same names.
      expect((await a.req('GET', '/api/developers/keys?limit=200')).body.keys.map((k: { name: string }) => k.name).sort()).toEqual(
        [...names].sort(),
      );
      await to.keyward.ctx.importer.run({ source: 'csv', file: file('formulas.csv', lines.join('\n')) });
      const b = new Agent(to.app);
      const link = (await to.keyward.ctx.importer.newClaimLink('formulas@export.example')).link;
      await b.signup('formulas@export.example', { invite_token: new URL(link).searchParams.get('invite_token') });
      expect((await b.req('GET', '/api/developers/keys?limit=200')).body.keys.map((k: { name: string }) => k.name).sort()).toEqual(
        [...names].sort(),
      );
    } finally {
      await from.close();
      await to.close();
    }
  });
});
