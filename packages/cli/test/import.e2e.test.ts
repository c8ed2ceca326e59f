import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { BIN, HttpAgent, ServerProcess } from './server-process.js';

const run = promisify(execFile);
const fixture = resolve(import.meta.dirname, '../../../test-support/better-auth');
const installed = existsSync(join(fixture, 'node_modules/better-auth'));
if (!installed)
  console.log('[import] skipped: run `npm ci --legacy-peer-deps` in test-support/better-auth (as .ci/run does) for the real better-auth');

interface Made {
  email: string;
  name: string;
  raw: string;
}

/** Keys made by a real better-auth with its api-key plugin, in its own SQLite file. */
async function betterAuthKeys(file: string, wanted: object[]): Promise<Made[]> {
  const { stdout } = await run(process.execPath, [join(fixture, 'make-keys.mjs'), file, JSON.stringify(wanted)]);
  return (JSON.parse(stdout) as { keys: Made[] }).keys;
}

const rows = (db: string, sql: string) => {
  const conn = new BetterSqlite3(db, { readonly: true });
  try {
    return conn.prepare(sql).all() as Record<string, unknown>[];
  } finally {
    conn.close();
  }
};

describe.skipIf(!installed)('keyward-server admin import, from a real better-auth', () => {
  it("a provider's better-auth keys keep working under keyward: dry run, import, claim links, first use, export", async () => {
    const work = mkdtempSync(join(tmpdir(), 'kw-import-e2e-'));
    const baFile = join(work, 'better-auth.db');
    const made = await betterAuthKeys(baFile, [
      { email: 'ann@ba.example', name: 'ann reads', permissions: { projects: ['read'] } },
      { email: 'ann@ba.example', name: 'ann writes', prefix: 'acme_', remaining: 5, metadata: { plan: 'pro' } },
      { email: 'ben@ba.example', name: "ben's key", expiresIn: 30 * 86_400 },
    ]);
    const server = new ServerProcess(mkdtempSync(join(tmpdir(), 'kw-e2e-')));
    await server.start();
    const ann = await HttpAgent.newAccount(server.base, 'ann@ba.example'); // ann has an account here already
    await server.stop();
    const data = ['--data-dir', join(server.dataDir, 'data')];
    const db = join(server.dataDir, 'data', 'keyward.db');

    const dry = await run(process.execPath, [BIN, 'admin', 'import', '--from', 'better-auth', baFile, '--dry-run', ...data]);
    expect(dry.stdout).toContain('Dry run (nothing written): 3 records read from better-auth.');
    expect(dry.stdout).toContain('3 keys would be created (scopes: read 1, write 2).');
    expect(dry.stdout).toMatch(/0 matched to existing accounts; 1 would be given a new organization \(ben@ba\.example\)/);
    // keyward verifies no address: ann's account proves nothing until the operator vouches for it.
    expect(dry.stdout).toContain('1 owner has an account here by address (ann@ba.example): keyward verifies no address');
    const vouched = ['--match-existing-accounts'];
    const dryVouched = await run(process.execPath, [
      BIN,
      'admin',
      'import',
      '--from',
      'better-auth',
      baFile,
      '--dry-run',
      ...vouched,
      ...data,
    ]);
    expect(dryVouched.stdout).toMatch(
      /1 matched to existing accounts \(ann@ba\.example\); 1 would be given a new organization \(ben@ba\.example\)/,
    );
    expect(rows(db, 'SELECT id FROM api_keys')).toEqual([]);

    const claims = join(work, 'claims.csv');
    const done = await run(process.execPath, [
      BIN,
      'admin',
      'import',
      '--from',
      'better-auth',
      baFile,
      '--claims',
      claims,
      ...vouched,
      ...data,
    ]);
    expect(done.stdout).toContain('3 keys created');
    expect(statSync(claims).mode & 0o777).toBe(0o600);
    const [header, ben] = readFileSync(claims, 'utf8').trim().split('\n');
    expect(header).toBe('email,organization_id,claim_link');
    expect(ben).toMatch(/^ben@ba\.example,org_\w+,http:\/\/127\.0\.0\.1:\d+\/signup\?invite_token=kwi_\w+$/);
    const again = await run(process.execPath, [BIN, 'admin', 'import', '--from', 'better-auth', baFile, ...data]);
    expect(again.stdout).toContain('3 already imported by an earlier run: skipped.');

    await server.start();
    ann.base = server.base; // a new port; the session is in storage
    try {
      const whoami = (raw: string) => new HttpAgent(server.base).req('GET', '/v1/whoami', undefined, { authorization: `Bearer ${raw}` });
      const [reads, writes, bens] = made as [Made, Made, Made];
      const annOrg = (await ann.req('GET', '/api/me')).body.organization.id;
      expect((await whoami(reads.raw)).body).toMatchObject({ name: 'ann reads', scope: 'read', organization: { id: annOrg } });
      // better-auth spent one of its 5 credits checking the key it made: 4 were left to import.
      expect((await whoami(writes.raw)).body).toMatchObject({ scope: 'write', budget: { limit: 4, remaining: 3 } });
      const benWho = (await whoami(bens.raw)).body;
      expect(benWho.name).toBe("ben's key");
      expect(benWho.organization.id).not.toBe(annOrg);
      expect((await whoami(`${writes.raw.slice(0, -1)}${writes.raw.endsWith('a') ? 'b' : 'a'}`)).status).toBe(401);

      // After one use each, storage holds keyward's HMACs and none of better-auth's hashes.
      const baHashes = rows(baFile, 'SELECT key FROM apikey').map((r) => Buffer.from(String(r.key), 'base64url').toString('hex'));
      let left = baHashes;
      for (let i = 0; i < 50 && left.length > 0; i++) {
        const stored = rows(db, 'SELECT hash FROM api_keys').map((r) => String(r.hash));
        left = baHashes.filter((h) => stored.some((s) => s.includes(h)));
        if (left.length > 0) await new Promise((r) => setTimeout(r, 100));
      }
      expect(left).toEqual([]);
      const listed = (await ann.req('GET', '/api/developers/keys')).body.keys;
      expect(listed.map((k: { imported_from: string }) => k.imported_from)).toEqual(['better-auth', 'better-auth']);
    } finally {
      await server.stop();
    }

    const out = join(work, 'export.csv');
    const exported = await run(process.execPath, [BIN, 'admin', 'export', '--output', out, ...data]);
    expect(exported.stdout).toBe(`3 keys written to ${out}.\n`);
    const text = readFileSync(out, 'utf8');
    for (const m of made) expect(text).not.toContain(m.raw);
    expect(text.match(/,hmac-sha256-hex,/g)).toHaveLength(3);
  }, 120_000);
});

describe('keyward-server admin import beside a running server', () => {
  it('finding: an imported key answered 401 malformed for up to 30 s, and claim links named port 8787; now it verifies within a second, and links name the running server', async () => {
    const server = await new ServerProcess().start();
    try {
      const owner = await HttpAgent.newAccount(server.base, 'csv-owner@example.com');
      const raw = `acct_${randomBytes(16).toString('hex')}`;
      const work = mkdtempSync(join(tmpdir(), 'kw-import-live-'));
      const file = join(work, 'keys.csv');
      writeFileSync(
        file,
        [
          'email,name,prefix,hash,hash_format,scope',
          `new-owner@example.com,partner-import,acct_,${createHash('sha256').update(raw).digest('hex')},sha256-hex,read`,
          'csv-owner@example.com,bad-row,acct_,not-a-hash,sha256-hex,read',
        ].join('\n'),
      );
      const claims = join(work, 'claims.csv');
      const whoami = () => owner.req('GET', '/v1/whoami', undefined, { authorization: `Bearer ${raw}` });
      expect((await whoami()).status).toBe(401);
      const dataDir = join(server.dataDir, 'data');
      const done = await run(process.execPath, [BIN, 'admin', 'import', '--from', 'csv', file, '--claims', claims, '--data-dir', dataDir]);
      expect(done.stdout).toMatch(/1 record skipped/);
      expect(done.stdout).toMatch(/line 3: /);
      const imported = Date.now();
      let status = (await whoami()).status;
      while (status !== 200 && Date.now() - imported < 1500) {
        await new Promise((r) => setTimeout(r, 50));
        status = (await whoami()).status;
      }
      expect(status).toBe(200);
      expect(Date.now() - imported).toBeLessThan(1500);
      const link = readFileSync(claims, 'utf8').trim().split('\n')[1] ?? '';
      expect(link).toContain(`${server.base}/signup?invite_token=`);
    } finally {
      await server.stop();
    }
  }, 60_000);
});
