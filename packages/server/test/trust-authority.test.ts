import { createHash, randomBytes } from 'node:crypto';
import { generateKey } from '@keyward/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, bearer, type Harness, startHarness } from './harness.js';
import { freshPostgresDatabase, postgresUrl } from './postgres.js';

/**
 * Issue 24, "Trust, third round": who may end and manage what.
 * - a revocation ends the refresh tokens of the key's grant family (owner, leak report, removed member);
 * - organization-wide settings (members, roles, webhooks) need a signed-in admin, not a key;
 * - every 401/403 to a key keeps Nuvion's words, the reason and the hint in other fields.
 * Run on SQLite and, with KEYWARD_TEST_DATABASE_URL, on PostgreSQL.
 */

const ORIGIN = 'http://127.0.0.1:8787';
const NUVION_401 = 'No valid API key provided.';
const NUVION_403 = 'Your API key does not have permission to perform this action.';
const CONFIG = {
  default_plan: 'pro',
  throttles: { client_registrations: { limit: 1000, period_seconds: 3600 } },
  webhooks: { allow_private_targets: true },
};

function formOf(page: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const m of page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
    fields[m[1] as string] = (m[2] as string).replace(/&amp;/g, '&').replace(/&quot;/g, '"');
  return fields;
}

const databases: [string, (() => Promise<{ url: string; drop: () => Promise<void> }>) | null][] = [
  ['SQLite', null],
  ...(postgresUrl ? [['PostgreSQL', freshPostgresDatabase] as [string, typeof freshPostgresDatabase]] : []),
];
if (!postgresUrl) console.warn('[skip] trust-authority on PostgreSQL: set KEYWARD_TEST_DATABASE_URL');

describe.each(databases)('trust, third round (%s)', (_name, database) => {
  let h: Harness;
  let owner: Agent;
  let drop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    const db = database ? await database() : null;
    drop = db?.drop;
    h = await startHarness(CONFIG, {}, db ? { databaseUrl: db.url } : {});
    owner = new Agent(h.app);
    await owner.signup(`owner-${randomBytes(4).toString('hex')}@example.com`);
  });
  afterAll(async () => {
    await h?.close();
    await drop?.();
  });

  const tokenEndpoint = (body: Record<string, string>) =>
    h.app.inject({
      method: 'POST',
      url: '/api/cli/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(body).toString(),
    });

  /** A registered OAuth client signs `person` in with offline_access: a key and a refresh token. */
  async function offlineSignIn(person: Agent) {
    const redirect = 'http://127.0.0.1:7010/cb';
    const reg = await new Agent(h.app).req('POST', '/api/oauth/register', {
      redirect_uris: [redirect],
      client_name: 'trust check',
      grant_types: ['authorization_code', 'refresh_token'],
    });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    const clientId = reg.body.client_id as string;
    const verifier = randomBytes(32).toString('base64url');
    const q = {
      response_type: 'code',
      client_id: clientId,
      redirect_uri: redirect,
      state: 'st',
      scope: 'read offline_access',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    };
    const page = await person.req('GET', `/auth/cli?${new URLSearchParams(q)}`, undefined, { accept: 'text/html' });
    expect(page.status, String(page.body).slice(0, 300)).toBe(200);
    const done = await person.req('POST', '/auth/cli', new URLSearchParams({ ...formOf(page.body), decision: 'approve' }).toString(), {
      'content-type': 'application/x-www-form-urlencoded',
      origin: ORIGIN,
    });
    const code = new URL(String(done.headers.location)).searchParams.get('code') ?? '';
    const r = await tokenEndpoint({
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      redirect_uri: redirect,
      client_id: clientId,
    });
    expect(r.statusCode, r.body).toBe(200);
    const t = r.json();
    expect(t.refresh_token).toMatch(/^kwr_/);
    const who = await new Agent(h.app).req('GET', '/v1/whoami', undefined, bearer(t.access_token));
    return { clientId, accessToken: t.access_token as string, refreshToken: t.refresh_token as string, keyId: who.body.id as string };
  }

  const refresh = (s: { clientId: string; refreshToken: string }) =>
    tokenEndpoint({ grant_type: 'refresh_token', refresh_token: s.refreshToken, client_id: s.clientId });

  async function expectFamilyEnded(s: { clientId: string; refreshToken: string }) {
    const r = await refresh(s);
    expect({ status: r.statusCode, error: r.json().error, access_token: r.json().access_token }).toEqual({
      status: 400,
      error: 'invalid_grant',
      access_token: undefined,
    });
  }

  async function newMember(role: 'read' | 'write' | 'admin') {
    const email = `m-${randomBytes(4).toString('hex')}@example.com`;
    const inv = await owner.req('POST', '/api/org/members', { email, role });
    expect(inv.status).toBe(201);
    const agent = new Agent(h.app);
    await agent.signup(email, { invite_token: inv.body.invite_token });
    return { agent, id: inv.body.member.id as string, email };
  }

  describe('trust: revoking an agent’s key leaves its refresh token working', () => {
    it('a refresh still works while the key stands (and keeps working after its own rotation)', async () => {
      const s = await offlineSignIn(owner);
      const first = await refresh(s);
      expect(first.statusCode, first.body).toBe(200);
      const next = { ...s, refreshToken: first.json().refresh_token };
      expect((await refresh(next)).statusCode).toBe(200);
    });

    it('the owner revokes the OAuth-minted key: its refresh token answers invalid_grant', async () => {
      const s = await offlineSignIn(owner);
      expect((await owner.req('DELETE', `/api/developers/keys/${s.keyId}`)).status).toBe(200);
      await expectFamilyEnded(s);
    });

    it('the owner revokes the key a refresh minted: the newer refresh token ends too', async () => {
      const s = await offlineSignIn(owner);
      const r = await refresh(s);
      expect(r.statusCode).toBe(200);
      const next = { ...s, refreshToken: r.json().refresh_token as string };
      const who = await new Agent(h.app).req('GET', '/v1/whoami', undefined, bearer(r.json().access_token));
      expect((await owner.req('DELETE', `/api/developers/keys/${who.body.id}`)).status).toBe(200);
      await expectFamilyEnded(next);
    });

    it('the owner rotates the OAuth-minted key (with grace): its refresh token mints no more keys, even after the grace', async () => {
      const s = await offlineSignIn(owner);
      const rotated = await owner.req('POST', `/api/developers/keys/${s.keyId}/rotate`, { grace_period_seconds: 3600 });
      expect(rotated.status).toBe(201);
      // The successor is the owner's now (it lives as long as the agent's key would have).
      expect((await new Agent(h.app).req('GET', '/v1/whoami', undefined, bearer(rotated.body.key.raw_key))).status).toBe(200);
      h.clock.advance(2 * 3600_000); // past the grace: the old key expired without being revoked
      await expectFamilyEnded(s);
    });

    it('the key revokes itself: its refresh token answers invalid_grant', async () => {
      const s = await offlineSignIn(owner);
      const self = await new Agent(h.app).req('DELETE', `/api/developers/keys/${s.keyId}`, undefined, bearer(s.accessToken));
      expect(self.status).toBe(200);
      await expectFamilyEnded(s);
    });

    it('a leak report revokes the OAuth-minted key: its refresh token answers invalid_grant', async () => {
      const s = await offlineSignIn(owner);
      const report = await new Agent(h.app).req('POST', '/v1/keys/report-leak', { key: s.accessToken, url: 'https://gist.example/leak' });
      expect(report.status, JSON.stringify(report.body)).toBeLessThan(300);
      // The report is handled after its answer: wait until the key stops working.
      const whoami = () => new Agent(h.app).req('GET', '/v1/whoami', undefined, bearer(s.accessToken));
      for (let i = 0; i < 100 && (await whoami()).status !== 401; i++) await new Promise((r) => setTimeout(r, 20));
      expect((await whoami()).status).toBe(401);
      await expectFamilyEnded(s);
    });

    it('a removed member: the refresh tokens of their agents answer invalid_grant', async () => {
      const m = await newMember('write');
      const s = await offlineSignIn(m.agent);
      expect((await owner.req('DELETE', `/api/org/members/${m.id}`)).status).toBe(200);
      await expectFamilyEnded(s);
    });
  });

  describe('trust: a test admin key reaches live through organization-wide settings', () => {
    it('an admin key (test or live) may not invite, re-role, remove members or manage webhooks: 403 session_required', async () => {
      const target = await newMember('write');
      const victim = await newMember('write');
      for (const environment of ['test', 'live']) {
        const k = await owner.createKey({ name: `${environment}-admin`, scope: 'admin', environment });
        const agent = new Agent(h.app);
        const tries = [
          await agent.req('POST', '/api/org/members', { email: `x-${environment}@evil.example`, role: 'admin' }, bearer(k.raw_key)),
          await agent.req('PATCH', `/api/org/members/${target.id}`, { role: 'admin' }, bearer(k.raw_key)),
          await agent.req('DELETE', `/api/org/members/${victim.id}`, undefined, bearer(k.raw_key)),
          await agent.req('POST', '/api/webhooks', { url: 'http://127.0.0.1:9/hook', events: ['key.leaked'] }, bearer(k.raw_key)),
          await agent.req('GET', '/api/webhooks', undefined, bearer(k.raw_key)),
        ];
        for (const r of tries) {
          expect(r.status, JSON.stringify(r.body)).toBe(403);
          expect(r.body.error).toMatchObject({ code: 'forbidden', message: NUVION_403, reason: 'session_required' });
          expect(r.body.error.hint).toMatch(/signed-in/);
        }
      }
      const members = (await owner.req('GET', '/api/org/members?limit=200')).body.members as { email: string; role: string }[];
      expect(members.find((m) => m.email === target.email)?.role).toBe('write');
      expect(members.some((m) => m.email === victim.email)).toBe(true);
      expect(members.some((m) => m.email.endsWith('@evil.example'))).toBe(false);
      expect((await owner.req('GET', '/api/webhooks')).body.webhooks).toEqual([]);
    });

    it('the signed-in admin still manages members, roles and webhooks; an admin key still reads members', async () => {
      const m = await newMember('write');
      expect((await owner.req('PATCH', `/api/org/members/${m.id}`, { role: 'read' })).status).toBe(200);
      const hook = await owner.req('POST', '/api/webhooks', { url: 'http://127.0.0.1:9/own', events: ['key.leaked'] });
      expect(hook.status, JSON.stringify(hook.body)).toBe(201);
      expect((await owner.req('DELETE', `/api/webhooks/${hook.body.webhook.id}`)).status).toBe(204);
      expect((await owner.req('DELETE', `/api/org/members/${m.id}`)).status).toBe(200);
      const k = await owner.createKey({ name: 'reader-admin', scope: 'admin' });
      expect((await new Agent(h.app).req('GET', '/api/org/members', undefined, bearer(k.raw_key))).status).toBe(200);
    });
  });

  describe("trust: every 401/403 to a key keeps Nuvion's message", () => {
    it('the management API and whoami: exactly those messages, the reason and hint beside them', async () => {
      const read = await owner.createKey({ name: 'reader', scope: 'read' });
      const write = await owner.createKey({ name: 'writer', scope: 'write' });
      const testAdmin = await owner.createKey({ name: 'test-admin', scope: 'admin', environment: 'test' });
      const fenced = await owner.createKey({ name: 'fenced', ip_allowlist: ['127.0.0.1/32'] });
      const gone = await owner.createKey({ name: 'gone' });
      await owner.req('DELETE', `/api/developers/keys/${gone.id}`);
      const unknown = generateKey({ name: 'test', prefix: 'kw_test_' });
      const a = new Agent(h.app);
      const cases: [string, Promise<{ status: number; body: any }>, number, Record<string, unknown>][] = [
        [
          'read key creates a key',
          a.req('POST', '/api/developers/keys', { name: 'x' }, bearer(read.raw_key)),
          403,
          { required_scope: 'admin', key_scope: 'read' },
        ],
        [
          'write key creates a key',
          a.req('POST', '/api/developers/keys', { name: 'x' }, bearer(write.raw_key)),
          403,
          { required_scope: 'admin', key_scope: 'write' },
        ],
        [
          'test admin key asks live',
          a.req('POST', '/api/developers/keys', { name: 'x', environment: 'live' }, bearer(testAdmin.raw_key)),
          403,
          { hint: expect.stringContaining('own environment (test)') },
        ],
        ['read key lists members', a.req('GET', '/api/org/members', undefined, bearer(read.raw_key)), 403, { key_scope: 'read' }],
        ['revoked key lists keys', a.req('GET', '/api/developers/keys', undefined, bearer(gone.raw_key)), 401, { reason: 'revoked' }],
        ['unknown key lists keys', a.req('GET', '/api/developers/keys', undefined, bearer(unknown)), 401, { reason: 'unknown' }],
        [
          'revoked key on whoami',
          a.req('GET', '/v1/whoami', undefined, bearer(gone.raw_key)),
          401,
          { reason: 'revoked', hint: expect.stringMatching(/revoked/) },
        ],
        [
          'allowlisted key from elsewhere on whoami',
          a.req('GET', '/v1/whoami', undefined, { ...bearer(fenced.raw_key), 'x-test-remote': '127.0.0.2' }),
          403,
          { reason: 'ip_not_allowed', hint: expect.stringContaining('127.0.0.2') },
        ],
      ];
      for (const [what, pending, status, extra] of cases) {
        const r = await pending;
        const [message, code] = status === 401 ? [NUVION_401, 'unauthorized'] : [NUVION_403, 'forbidden'];
        expect({ what, status: r.status }).toEqual({ what, status });
        expect(r.body.error, what).toMatchObject({ code, message, request_id: expect.stringMatching(/^req_/), ...extra });
        expect(Object.keys(r.body), what).toEqual(['error']);
      }
    });

    it('a person signed in (no key) keeps the words that say what to do', async () => {
      const reader = await newMember('read');
      const asked = await reader.agent.req('POST', '/api/developers/keys', { name: 'r', scope: 'admin' });
      expect(asked.status).toBe(403);
      expect(asked.body.error.message).toContain('scope read at most');
    });
  });
});
