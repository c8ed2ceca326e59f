import { mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load-config.js';
import { sqliteStore } from '../src/storage/sqlite-store.js';
import { Agent, bearer, type Harness, startHarness } from './harness.js';

/** The hardening review's lesser findings, one test each, named after what was found. */
let h: Harness;
let admin: Agent;
beforeAll(async () => {
  h = await startHarness({ default_plan: 'free' });
  admin = new Agent(h.app);
  await admin.signup('hardening-admin@example.com');
});
afterAll(() => h.close());

const ORIGIN = 'http://127.0.0.1:8787';
const form = (fields: Record<string, string>) =>
  [new URLSearchParams(fields).toString(), { 'content-type': 'application/x-www-form-urlencoded', origin: ORIGIN }] as const;

describe('hardening findings', () => {
  it('finding: /login?next=/%09/evil.example redirected off-site, and next with CR/LF/NUL answered 500', async () => {
    const visitor = new Agent(h.app);
    for (const next of ['/%09/evil.example', '/%0a/evil.example', '//evil.example', '/%5Cevil.example', 'https://evil.example']) {
      const page = await visitor.req('GET', `/login?next=${next}`);
      expect(page.status).toBe(200);
      expect(page.body).not.toContain('evil.example');
      const signedIn = await admin.req('GET', `/login?next=${next}`);
      expect(signedIn.status).toBe(303);
      expect(signedIn.headers.location).toBe('/');
    }
    for (const next of ['/%0d%0aSet-Cookie:%20x=y', '/a%00b']) {
      expect((await admin.req('GET', `/login?next=${next}`)).status).toBe(303);
      const posted = await new Agent(h.app).req(
        'POST',
        '/login',
        ...form({ email: 'hardening-admin@example.com', password: 'correct horse battery 9', next: decodeURIComponent(next) }),
      );
      expect(posted.status).toBe(303);
      expect(posted.headers.location).toBe('/');
    }
    expect((await admin.req('GET', '/login?next=/keys%3Fenvironment%3Dlive')).headers.location).toBe('/keys?environment=live');
  });

  it('finding: keys of removed members were listed as active and counted towards the plan', async () => {
    const invite = await admin.req('POST', '/api/org/members', { email: 'leaver@example.com', role: 'write' });
    const leaver = new Agent(h.app);
    await leaver.signup('leaver@example.com', { invite_token: invite.body.invite_token });
    const key = await leaver.createKey({ name: 'leaver key' });
    const before = (await admin.req('GET', '/api/me')).body;
    expect((await admin.req('DELETE', `/api/org/members/${invite.body.member.id}`)).status).toBe(200);
    const shown = await admin.req('GET', `/api/developers/keys/${key.id}`);
    expect(shown.body.key.status).toBe('revoked');
    expect((await new Agent(h.app).req('GET', '/v1/whoami', undefined, bearer(key.raw_key))).status).toBe(401);
    const audit = await admin.req('GET', '/api/audit?limit=5');
    expect(audit.body.events.find((e: { action: string }) => e.action === 'member.removed').data.revoked_keys).toBe(1);
    expect(before.organization.id).toBeDefined();
  });

  it('finding: a device-flow link could ask for admin under a made-up client_id, and the consent page did not warn', async () => {
    const anon = new Agent(h.app);
    const admin_ = await anon.req('POST', '/api/device/code', { client_id: 'made-up-client', scope: 'admin' });
    expect(admin_.status).toBe(400);
    expect(admin_.body.error).toBe('invalid_request');
    expect(admin_.body.error_description).toMatch(/does not issue admin keys/);
    const write = await anon.req('POST', '/api/device/code', { client_id: 'made-up-client', scope: 'write' });
    const page = await admin.req('GET', `/device?user_code=${write.body.user_code}`);
    expect(page.body).toContain('made-up-client');
    expect(page.body).toMatch(/not verified/);
    const loopback = await admin.req(
      'GET',
      '/auth/cli?redirect_uri=http://127.0.0.1:5555/callback&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&scope=admin',
    );
    expect(loopback.status).toBe(400);
    expect(loopback.body).toMatch(/does not issue admin keys/);
  });

  it('agent sign-in issues admin keys when the operator allows it', async () => {
    const allowing = await startHarness({ default_plan: 'free', agent_sign_in: { allow_admin_scope: true } });
    try {
      const r = await new Agent(allowing.app).req('POST', '/api/device/code', { scope: 'admin' });
      expect(r.status).toBe(200);
    } finally {
      await allowing.close();
    }
  });

  it('finding: the data folder kept a pre-existing 0755 mode and the database file was created 0644', async () => {
    const previous = process.umask(0o022);
    try {
      const dir = join(mkdtempSync(join(tmpdir(), 'kw-modes-')), 'data');
      mkdirSync(dir, { mode: 0o755 });
      loadConfig({ dataDir: dir }, {});
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(statSync(join(dir, 'secret')).mode & 0o777).toBe(0o600);
      const store = sqliteStore(join(dir, 'keyward.db'));
      await store.migrate();
      for (const file of ['keyward.db', 'keyward.db-wal', 'keyward.db-shm'])
        expect(statSync(join(dir, file)).mode & 0o777, file).toBe(0o600);
      await store.close();
    } finally {
      process.umask(previous);
    }
  });
});

describe('pagination', () => {
  it('finding: key lists and the audit page were unpaginated (20,000 keys → a 26 MB page); now cursor pages of 50, at most 200', async () => {
    const big = await startHarness({ default_plan: 'enterprise' });
    try {
      const a = new Agent(big.app);
      await a.signup('pages@example.com');
      const made = new Set<string>();
      for (let i = 0; i < 130; i++) {
        made.add((await a.createKey({ name: `key ${i}` })).id);
        // Several keys share a millisecond: the cursor must tell them apart by id.
        if (i % 3 === 0) big.clock.advance(1);
      }
      for (let i = 0; i < 60; i++) await a.req('POST', '/api/org/members', { email: `m${i}@example.com`, role: 'read' });

      const walk = async (path: string, field: string, limit?: number) => {
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const q = new URLSearchParams({ ...(limit ? { limit: String(limit) } : {}), ...(cursor ? { cursor } : {}) });
          const r = await a.req('GET', `${path}?${q}`);
          expect(r.status, JSON.stringify(r.body)).toBe(200);
          expect(r.body[field].length).toBeLessThanOrEqual(limit ?? 50);
          seen.push(...r.body[field].map((x: { id: string }) => x.id));
          cursor = r.body.next_cursor;
          pages++;
        } while (cursor);
        return { seen, pages };
      };
      const keys = await walk('/api/developers/keys', 'keys');
      expect(keys.pages).toBe(3);
      expect(new Set(keys.seen).size).toBe(130);
      expect([...made].every((id) => keys.seen.includes(id))).toBe(true);
      expect((await walk('/api/developers/keys', 'keys', 200)).pages).toBe(1);
      const members = await walk('/api/org/members', 'members', 25);
      expect(new Set(members.seen).size).toBe(61);
      const audit = await walk('/api/audit', 'events');
      expect(new Set(audit.seen).size).toBe(190);

      expect((await a.req('GET', '/api/developers/keys?limit=201')).status).toBe(400);
      const bad = await a.req('GET', '/api/developers/keys?cursor=not-a-cursor');
      expect(bad.status).toBe(400);
      expect(bad.body.error.message).toMatch(/cursor is not valid/);

      // The dashboard pages the same way.
      const first = await a.req('GET', '/dashboard/keys?environment=test');
      const next = /href="(\/dashboard\/keys\?[^"]*cursor=[^"]+)" rel="next"/.exec(first.body)?.[1]?.replaceAll('&amp;', '&');
      expect(next).toBeDefined();
      const second = await a.req('GET', next as string);
      expect(second.status).toBe(200);
      expect(second.body).toContain('First page');
    } finally {
      await big.close();
    }
  });

  it("a key's request log pages too", async () => {
    const key = await admin.createKey({ name: 'logged' });
    for (let i = 0; i < 7; i++) {
      await new Agent(h.app).req('GET', '/v1/whoami', undefined, bearer(key.raw_key));
      h.clock.advance(1);
    }
    await h.keyward.recorder.flush();
    const one = await admin.req('GET', `/api/developers/keys/${key.id}/requests?limit=5`);
    expect(one.body.requests).toHaveLength(5);
    const two = await admin.req('GET', `/api/developers/keys/${key.id}/requests?limit=5&cursor=${one.body.next_cursor}`);
    expect(two.body.requests).toHaveLength(2);
    expect(two.body.next_cursor).toBeNull();
  });
});

describe('slow clients', () => {
  it('finding: no request or connection timeout was set; slow senders are now cut off while /health keeps answering', async () => {
    const slow = await startHarness({ http: { request_timeout_ms: 1500, headers_timeout_ms: 1000, idle_timeout_ms: 3000 } });
    try {
      await slow.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = slow.app.server.address() as AddressInfo;
      const opened = Date.now();
      const closedAfter = await Promise.all(
        Array.from(
          { length: 20 },
          (_, i) =>
            new Promise<number>((done) => {
              const socket = connect(port, '127.0.0.1', () => {
                // Half of them trickle a body, half never finish their headers.
                socket.write(
                  i % 2
                    ? 'POST /v1/keys/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{'
                    : 'GET /health HTTP/1.1\r\nHost: x\r\n',
                );
              });
              const drip = setInterval(() => socket.writable && socket.write(' '), 300);
              socket.on('error', () => {});
              socket.on('close', () => {
                clearInterval(drip);
                done(Date.now() - opened);
              });
            }),
        ),
      );
      // Each within the request timeout plus Node's one-second check, never left open.
      expect(Math.max(...closedAfter)).toBeLessThan(3500);
      const started = Date.now();
      const health = await fetch(`http://127.0.0.1:${port}/health`);
      expect(health.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(500);
    } finally {
      await slow.close();
    }
  });
});

describe('verify trusts only verifiers', () => {
  const credential = 'kwv_hardening-suite-credential';
  let v: Harness;
  let owner: Agent;
  beforeAll(async () => {
    const { createHash } = await import('node:crypto');
    v = await startHarness({
      plans: { rpm3: { requests_per_minute: 3, monthly_requests: null, max_active_keys: null } },
      default_plan: 'rpm3',
      verifier_credentials: [{ name: 'gateway', sha256: createHash('sha256').update(credential).digest('hex') }],
    });
    owner = new Agent(v.app);
    await owner.signup('verify-owner@example.com');
  });
  afterAll(() => v.close());

  it('finding: anyone holding a key could forge ip, method and path on verify and drain its budget from anywhere', async () => {
    const key = await owner.createKey({ name: 'ten only', ip_allowlist: ['10.0.0.0/8'], metadata: { team: 'secret-team' } });
    const anyone = new Agent(v.app);
    for (let i = 0; i < 5; i++) {
      const r = await anyone.req('POST', '/v1/keys/verify', { key: key.raw_key, ip: '10.1.1.1', path: '/forged-path', method: 'DELETE' });
      // `ip` is ignored, never refused: the socket address (127.0.0.1) is what is checked.
      expect(r.body).toMatchObject({ valid: false, code: 'IP_NOT_ALLOWED' });
    }
    const fromTen = await anyone.req('GET', '/v1/whoami', undefined, { ...bearer(key.raw_key), 'x-test-remote': '10.2.2.2' });
    expect(fromTen.status).toBe(200);
    await v.keyward.recorder.flush();
    const usage = await owner.req('GET', `/api/developers/keys/${key.id}/usage`);
    expect(usage.body.month.used).toBe(1);
    expect(usage.body.recent_requests.some((r: { ip: string; path: string }) => r.ip === '10.1.1.1' || r.path === '/forged-path')).toBe(
      false,
    );
  });

  it('without a credential the answer leaves out organization, metadata and owner; with one it has them and trusts ip and path', async () => {
    const key = await owner.createKey({ name: 'plain', metadata: { team: 'secret-team' } });
    const plain = await new Agent(v.app).req('POST', '/v1/keys/verify', { key: key.raw_key });
    expect(plain.body).toMatchObject({ valid: true, key_id: key.id, scope: 'write' });
    expect(plain.body).not.toHaveProperty('organization_id');
    expect(plain.body).not.toHaveProperty('metadata');
    expect(plain.body).not.toHaveProperty('owner_id');

    const ten = await owner.createKey({ name: 'ten via gateway', ip_allowlist: ['10.0.0.0/8'] });
    const gateway = await new Agent(v.app).req(
      'POST',
      '/v1/keys/verify',
      { key: ten.raw_key, ip: '10.1.1.1', path: '/orders' },
      bearer(credential),
    );
    expect(gateway.body).toMatchObject({ valid: true, organization_id: expect.stringMatching(/^org_/), metadata: {} });
    const wrong = await new Agent(v.app).req('POST', '/v1/keys/verify', { key: ten.raw_key }, bearer('kwv_not-ours'));
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.message).toMatch(/not a verifier credential/);
  });
});

describe('sign-in throttle', () => {
  it('finding: the throttle counted per e-mail only, so anyone could keep a victim locked out; now per (e-mail, address) and per address', async () => {
    const t = await startHarness();
    try {
      await new Agent(t.app).signup('locked-victim@example.com');
      const attacker = new Agent(t.app);
      const from = (ip: string) => ({ 'x-test-remote': ip });
      for (let i = 0; i < 12; i++)
        await attacker.req('POST', '/api/auth/login', { email: 'locked-victim@example.com', password: `wrong ${i}` }, from('10.0.0.1'));
      expect(
        (
          await attacker.req(
            'POST',
            '/api/auth/login',
            { email: 'locked-victim@example.com', password: 'correct horse battery 9' },
            from('10.0.0.1'),
          )
        ).status,
      ).toBe(429);
      const owner = await new Agent(t.app).req(
        'POST',
        '/api/auth/login',
        { email: 'locked-victim@example.com', password: 'correct horse battery 9' },
        from('10.0.0.2'),
      );
      expect(owner.status).toBe(200);

      // Spraying many e-mails from one address stops at the per-address budget.
      const statuses: number[] = [];
      for (let i = 0; i < 35; i++)
        statuses.push(
          (await attacker.req('POST', '/api/auth/login', { email: `spray${i}@example.com`, password: 'x' }, from('10.9.9.9'))).status,
        );
      expect(statuses.slice(0, 30).every((s) => s === 401)).toBe(true);
      expect(statuses.slice(30).every((s) => s === 429)).toBe(true);
    } finally {
      await t.close();
    }
  });
});
