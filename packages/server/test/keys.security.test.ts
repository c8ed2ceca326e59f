import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sqliteStore } from '../src/storage/sqlite-store.js';
import { Agent, bearer, type Harness, startHarness } from './harness.js';

let h: Harness;
afterEach(() => h?.close());

describe('organization isolation', () => {
  it('a user of org B cannot see, revoke or rotate keys of org A: 404, so ids do not leak', async () => {
    h = await startHarness();
    const a = new Agent(h.app);
    const b = new Agent(h.app);
    await a.signup('a@example.com');
    await b.signup('b@example.com');
    const key = await a.createKey({ name: 'a-only' });
    expect((await b.req('GET', `/api/developers/keys/${key.id}`)).status).toBe(404);
    expect((await b.req('DELETE', `/api/developers/keys/${key.id}`)).status).toBe(404);
    expect((await b.req('POST', `/api/developers/keys/${key.id}/rotate`, {})).status).toBe(404);
    expect((await b.req('GET', `/api/developers/keys/${key.id}/usage`)).status).toBe(404);
    expect((await b.req('GET', '/api/developers/keys')).body.keys).toEqual([]);
    expect((await b.req('GET', `/api/audit?key_id=${key.id}`)).body.events).toEqual([]);
    expect((await a.req('GET', '/v1/whoami', undefined, bearer(key.raw_key))).status).toBe(200);
  });
});

describe('secrets at rest and in logs', () => {
  it('stores no raw key in the database file, and no log line carries the key or the Authorization header', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kw-sec-'));
    try {
      h = await startHarness({ default_plan: 'free' }, { store: sqliteStore(join(dir, 'keyward.db')) });
      const a = new Agent(h.app);
      await a.signup('s@example.com');
      const key = await a.createKey();
      await a.req('GET', '/v1/whoami', undefined, bearer(key.raw_key));
      await a.req('POST', '/v1/keys/verify', { key: key.raw_key });
      await a.req('GET', `/v1/whoami?api_key=${key.raw_key}`, undefined, bearer(key.raw_key));
      await h.keyward.recorder.flush();
      await h.close();
      const tail = key.raw_key.slice(-20);
      for (const f of readdirSync(dir)) expect(readFileSync(join(dir, f)).includes(tail), f).toBe(false);
      const logs = h.logs.join('\n');
      expect(h.logs.length).toBeGreaterThan(3);
      expect(logs).not.toContain(tail);
      expect(logs.toLowerCase()).not.toContain('authorization');
      expect(logs).not.toContain('access_token');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sessions and CSRF', () => {
  it('sets an HttpOnly, SameSite=Lax access_token cookie and clears it on logout', async () => {
    h = await startHarness();
    const a = new Agent(h.app);
    const r = await a.req('POST', '/api/auth/signup', { email: 'c@example.com', password: 'correct horse battery 9' });
    expect(String(r.headers['set-cookie'])).toMatch(/^access_token=kws_[0-9A-Za-z]+; Path=\/; HttpOnly; SameSite=Lax/);
    expect((await a.req('GET', '/api/me')).status).toBe(200);
    const token = a.cookie;
    await a.req('POST', '/api/auth/logout', {});
    expect((await a.req('GET', '/api/me')).status).toBe(401);
    a.cookie = token;
    expect((await a.req('GET', '/api/me')).status).toBe(401);
  });

  it('works with the cookie exactly as NANDA’s curl example shows, and refuses foreign origins and forms', async () => {
    h = await startHarness();
    const a = new Agent(h.app);
    await a.signup('d@example.com');
    const curl = new Agent(h.app);
    const ok = await curl.req('POST', '/api/developers/keys', { name: 'my-agent-key' }, { cookie: a.cookie ?? '' });
    expect(ok.status).toBe(201);
    const foreign = await a.req('POST', '/api/developers/keys', { name: 'x' }, { origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.code).toBe('forbidden');
    const form = await a.req('POST', '/api/developers/keys', 'name=x', { 'content-type': 'text/plain' });
    expect(form.status).toBe(415);
    const same = await a.req('POST', '/api/developers/keys', { name: 'y' }, { origin: 'http://127.0.0.1:8787' });
    expect(same.status).toBe(201);
  });
});

describe('member permissions', () => {
  it('only admins invite and change roles; members manage only their own keys', async () => {
    h = await startHarness();
    const admin = new Agent(h.app);
    await admin.signup('admin@example.com');
    const inv = await admin.req('POST', '/api/org/members', { email: 'writer@example.com', role: 'write' });
    expect(inv.status).toBe(201);
    expect(inv.body.invite_token).toMatch(/^kwi_/);
    const writer = new Agent(h.app);
    await writer.signup('writer@example.com', { invite_token: inv.body.invite_token });
    expect((await writer.req('GET', '/api/me')).body).toMatchObject({
      role: 'write',
      organization: { id: (await admin.req('GET', '/api/me')).body.organization.id },
    });

    expect((await writer.req('POST', '/api/org/members', { email: 'x@example.com', role: 'admin' })).status).toBe(403);
    const adminKey = await admin.createKey({ name: 'admins' });
    expect((await writer.req('DELETE', `/api/developers/keys/${adminKey.id}`)).status).toBe(403);
    const own = await writer.createKey({ name: 'mine' });
    expect((await writer.req('DELETE', `/api/developers/keys/${own.id}`)).status).toBe(200);

    const again = new Agent(h.app);
    const reuse = await again.req('POST', '/api/auth/signup', {
      email: 'writer@example.com',
      password: 'another pass 1',
      invite_token: inv.body.invite_token,
    });
    expect(reuse.status).toBe(409);
  });

  it('an invitation only works for the address it was sent to', async () => {
    h = await startHarness();
    const admin = new Agent(h.app);
    await admin.signup('admin2@example.com');
    const inv = await admin.req('POST', '/api/org/members', { email: 'right@example.com', role: 'read' });
    const r = await new Agent(h.app).req('POST', '/api/auth/signup', {
      email: 'wrong@example.com',
      password: 'long enough 1',
      invite_token: inv.body.invite_token,
    });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(/another e-mail/);
  });

  it('the last admin cannot be demoted or removed', async () => {
    h = await startHarness();
    const admin = new Agent(h.app);
    const me = await admin.signup('solo@example.com');
    const r = await admin.req('PATCH', `/api/org/members/${me.member_id}`, { role: 'read' });
    expect(r.status).toBe(409);
    expect((await admin.req('DELETE', `/api/org/members/${me.member_id}`)).status).toBe(409);
  });
});

describe('password guessing', () => {
  it('throttles an address after 10 failed sign-ins with 429 and Retry-After, even for the right password; others are unaffected', async () => {
    h = await startHarness();
    await new Agent(h.app).signup('victim@example.com');
    await new Agent(h.app).signup('bystander@example.com');
    const guesser = new Agent(h.app);
    for (let i = 0; i < 10; i++)
      expect((await guesser.req('POST', '/api/auth/login', { email: 'victim@example.com', password: `guess-${i}` })).status).toBe(401);
    const blocked = await guesser.req('POST', '/api/auth/login', { email: 'Victim@example.com', password: 'correct horse battery 9' });
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe('rate_limited');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect(
      (await new Agent(h.app).req('POST', '/api/auth/login', { email: 'bystander@example.com', password: 'correct horse battery 9' }))
        .status,
    ).toBe(200);
    h.clock.advance(90_000);
    expect(
      (await guesser.req('POST', '/api/auth/login', { email: 'victim@example.com', password: 'correct horse battery 9' })).status,
    ).toBe(200);
  });
});
