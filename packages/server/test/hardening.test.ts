import { mkdirSync, mkdtempSync, statSync } from 'node:fs';
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
