import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent, bearer, type Harness, startHarness } from './harness.js';

const CIBA = 'urn:openid:params:grant-type:ciba';

let h: Harness;
let owner: Agent;
beforeEach(async () => {
  h = await startHarness({ default_plan: 'free', scope_requests: { expires_in_seconds: 120 } });
  owner = new Agent(h.app);
  await owner.signup('owner@example.com', { name: 'Olive' });
});
afterEach(() => h.close());

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** The agent asks with its key: the CIBA request, as a form. */
const ask = (key: string, fields: Record<string, string>) =>
  owner.req('POST', '/api/oauth/bc-authorize', form(fields), { ...FORM, ...bearer(key) });

/** The agent polls the token endpoint; the clock moves past the interval first, as a well-behaved client waits. */
async function poll(authReqId: string, path = '/api/cli/token') {
  h.clock.advance(2_000);
  return owner.req('POST', path, form({ grant_type: CIBA, auth_req_id: authReqId }), FORM);
}

/** A person's Requests page, and the decide form of the request with this reason (its hidden fields and action). */
async function decideForm(person: Agent, reason: string) {
  const page = String((await person.req('GET', '/dashboard/requests', undefined, { accept: 'text/html' })).body);
  const at = page.indexOf(reason);
  const rest = at === -1 ? '' : page.slice(at);
  const action = /<form method="post" action="(\/dashboard\/requests\/[^"]+\/decide)"/.exec(rest)?.[1];
  return {
    page,
    action,
    approve: rest.slice(0, rest.indexOf('</form>')).includes('value="approve"'),
    csrf: /name="csrf" value="([^"]+)"/.exec(rest)?.[1] ?? '',
    token: /name="form_token" value="([^"]+)"/.exec(rest)?.[1] ?? '',
  };
}

async function decide(person: Agent, reason: string, fields: Record<string, string>) {
  const f = await decideForm(person, reason);
  if (!f.action) throw new Error(`no decide form for "${reason}"`);
  return person.req('POST', f.action, form({ csrf: f.csrf, form_token: f.token, ...fields }), {
    ...FORM,
    origin: 'http://127.0.0.1:8787',
    accept: 'text/html',
  });
}

describe('scope requests (CIBA, poll mode): the happy path', () => {
  it('the metadata advertises the backchannel endpoint, poll mode and the grant', async () => {
    const meta = await owner.req('GET', '/.well-known/oauth-authorization-server');
    expect(meta.body).toMatchObject({
      backchannel_authentication_endpoint: 'http://127.0.0.1:8787/api/oauth/bc-authorize',
      backchannel_token_delivery_modes_supported: ['poll'],
    });
    expect(meta.body.grant_types_supported).toContain(CIBA);
  });

  it('a read key asks for write; the owner sees it and approves; the poll gets a new write key once; the old key stays read', async () => {
    const key = await owner.createKey({ name: 'research key', scope: 'read', agent: 'researcher' });
    const asked = await ask(key.raw_key, { scope: 'write', binding_message: 'need to save notes' });
    expect(asked.status).toBe(200);
    expect(asked.body).toMatchObject({ expires_in: 120, interval: 2 });
    expect((await poll(asked.body.auth_req_id)).body.error).toBe('authorization_pending');

    const f = await decideForm(owner, 'need to save notes');
    expect(f.page).toContain('researcher');
    expect(f.page).toContain(`${key.prefix}…${key.raw_key.slice(-4)}`);
    expect(f.page).toMatch(/read → write/);
    expect(f.page).toMatch(/Requests <span class="badge"[^>]*>1<\/span>/);
    expect(f.approve).toBe(true);
    expect((await decide(owner, 'need to save notes', { decision: 'approve', scope: 'write' })).status).toBe(303);

    const got = await poll(asked.body.auth_req_id, '/api/oauth/token');
    expect(got.status).toBe(200);
    expect(got.headers['cache-control']).toContain('no-store');
    expect(got.body).toMatchObject({ token_type: 'Bearer', scope: 'write', approved_by: { email: 'owner@example.com' } });
    expect(got.body.access_token).not.toBe(key.raw_key);
    const fresh = await owner.req('GET', '/v1/whoami', undefined, bearer(got.body.access_token));
    expect(fresh.body).toMatchObject({ scope: 'write', agent: 'researcher', environment: 'test' });
    expect((await owner.req('GET', '/v1/whoami', undefined, bearer(key.raw_key))).body.scope).toBe('read');
    const again = await poll(asked.body.auth_req_id);
    expect(again.status).toBe(400);
    expect(again.body.error).toBe('invalid_grant');

    // The new key records who approved it and why, and the two keys' pages link each other.
    const made = await owner.req('GET', `/api/developers/keys/${fresh.body.id}`);
    expect(made.body.key.scope_request).toMatchObject({
      requesting_key_id: key.id,
      approver_email: 'owner@example.com',
      reason: 'need to save notes',
    });
    const newPage = String((await owner.req('GET', `/dashboard/keys/${fresh.body.id}`, undefined, { accept: 'text/html' })).body);
    expect(newPage).toContain(`/dashboard/keys/${key.id}`);
    const oldPage = String((await owner.req('GET', `/dashboard/keys/${key.id}`, undefined, { accept: 'text/html' })).body);
    expect(oldPage).toContain(`/dashboard/keys/${fresh.body.id}`);

    // Audited, asked and decided.
    const audit = await owner.req('GET', '/api/audit?limit=50');
    const actions = audit.body.events.map((e: { action: string }) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['key.scope_requested', 'key.scope_request_decided']));
  });

  it('the approver narrows: a lower scope and a shorter life; the key is bound to the resource asked', async () => {
    const key = await owner.createKey({ name: 'k', scope: 'read', agent: 'a' });
    const asked = await ask(key.raw_key, {
      scope: 'write',
      binding_message: 'narrow me',
      resource: 'https://api.example.com/mcp',
      requested_expiry: '86400',
    });
    expect(asked.status).toBe(200);
    await decide(owner, 'narrow me', { decision: 'approve', scope: 'agentic', expires_in: '3600' });
    const got = await poll(asked.body.auth_req_id);
    expect(got.body.scope).toBe('agentic');
    expect(got.body.expires_in).toBeLessThanOrEqual(3600);
    expect(got.body.key.resource).toBe('https://api.example.com/mcp');
  });
});

describe('scope requests: what ends them without a key', () => {
  it('Deny: the poll answers access_denied', async () => {
    const key = await owner.createKey({ name: 'k', scope: 'read' });
    const asked = await ask(key.raw_key, { scope: 'write', binding_message: 'deny me' });
    await decide(owner, 'deny me', { decision: 'deny' });
    expect((await poll(asked.body.auth_req_id)).body.error).toBe('access_denied');
  });

  it('the key that asked is revoked after the approval: nothing is delivered (access_denied)', async () => {
    const key = await owner.createKey({ name: 'k', scope: 'read' });
    const asked = await ask(key.raw_key, { scope: 'write', binding_message: 'then revoked' });
    await decide(owner, 'then revoked', { decision: 'approve', scope: 'write' });
    expect((await owner.req('DELETE', `/api/developers/keys/${key.id}`)).status).toBe(200);
    expect((await poll(asked.body.auth_req_id)).body.error).toBe('access_denied');
    const keys = await owner.req('GET', '/api/developers/keys');
    expect(keys.body.keys.filter((k: { scope_request: unknown }) => k.scope_request !== null)).toEqual([]);
  });

  it('nobody decides in time: expired_token, and it leaves the Requests page', async () => {
    const key = await owner.createKey({ name: 'k', scope: 'read' });
    const asked = await ask(key.raw_key, { scope: 'write', binding_message: 'too late' });
    h.clock.advance(121_000);
    expect((await poll(asked.body.auth_req_id)).body.error).toBe('expired_token');
    expect((await decideForm(owner, 'too late')).action).toBeUndefined();
  });

  it('polling faster than the interval is slow_down', async () => {
    const key = await owner.createKey({ name: 'k', scope: 'read' });
    const asked = await ask(key.raw_key, { scope: 'write', binding_message: 'eager' });
    const r = () => owner.req('POST', '/api/cli/token', form({ grant_type: CIBA, auth_req_id: asked.body.auth_req_id }), FORM);
    expect((await r()).body.error).toBe('authorization_pending');
    expect((await r()).body.error).toBe('slow_down');
  });
});

describe('scope requests: bad input, in OAuth’s shape', () => {
  it('no key is 401; a long reason, an unknown scope, a scope already held are 400; the 4th pending is 429', async () => {
    const key = await owner.createKey({ name: 'k', scope: 'read' });
    const none = await owner.req('POST', '/api/oauth/bc-authorize', form({ scope: 'write', binding_message: 'x' }), FORM);
    expect(none.status).toBe(401);
    expect(none.body.error).toBe('invalid_token');
    expect((await ask(key.raw_key, { scope: 'write', binding_message: 'x'.repeat(201) })).status).toBe(400);
    expect((await ask(key.raw_key, { scope: 'superpower', binding_message: 'why' })).body.error).toBe('invalid_scope');
    expect((await ask(key.raw_key, { scope: 'read', binding_message: 'why' })).body.error).toBe('invalid_scope');
    expect((await ask(key.raw_key, { scope: 'write', binding_message: 'line\nbreak' })).status).toBe(400);
    const statuses = [];
    for (const n of [1, 2, 3, 4]) statuses.push((await ask(key.raw_key, { scope: 'write', binding_message: `ask ${n}` })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const unknown = await owner.req('POST', '/api/cli/token', form({ grant_type: CIBA, auth_req_id: 'kwreq_nope' }), FORM);
    expect(unknown.body.error).toBe('invalid_grant');
    expect((await owner.req('POST', '/api/cli/token', form({ grant_type: CIBA }), FORM)).body.error).toBe('invalid_request');
  });
});

describe('scope requests: who approves', () => {
  it('a read member’s write request: the member may not approve (no button; a forged post is 403), an admin may', async () => {
    const invite = await owner.req('POST', '/api/org/members', { email: 'reader@example.com', role: 'read' });
    const reader = new Agent(h.app);
    await reader.signup('reader@example.com', { invite_token: invite.body.invite_token });
    const key = await reader.createKey({ name: 'helper', scope: 'read', agent: 'helper' });
    const asked = await ask(key.raw_key, { scope: 'write', binding_message: 'member wants write' });

    const mine = await decideForm(reader, 'member wants write');
    expect(mine.approve).toBe(false);
    const forged = await decide(reader, 'member wants write', { decision: 'approve', scope: 'write' });
    expect(forged.status).toBe(403);
    expect((await poll(asked.body.auth_req_id)).body.error).toBe('authorization_pending');

    expect((await decideForm(owner, 'member wants write')).approve).toBe(true);
    await decide(owner, 'member wants write', { decision: 'approve', scope: 'write' });
    const got = await poll(asked.body.auth_req_id);
    expect(got.body.scope).toBe('write');
    // Made by the approver: it shrinks with the approver's role, not the member's.
    expect(got.body.key.created_by).not.toBe(key.created_by);
  });

  it('an approver cannot grant above their own role, even by a forged scope', async () => {
    const invite = await owner.req('POST', '/api/org/members', { email: 'writer@example.com', role: 'write' });
    const writer = new Agent(h.app);
    await writer.signup('writer@example.com', { invite_token: invite.body.invite_token });
    const key = await writer.createKey({ name: 'w', scope: 'read' });
    await ask(key.raw_key, { scope: 'write', binding_message: 'writer asks write' });
    const f = await decideForm(writer, 'writer asks write');
    expect(f.page).not.toContain('<option value="admin"');
    const r = await decide(writer, 'writer asks write', { decision: 'approve', scope: 'admin' });
    expect(r.status).toBe(403);
  });

  it('another organization’s request is not on the page, and cannot be decided by id', async () => {
    const other = new Agent(h.app);
    await other.signup('other@example.com');
    const key = await other.createKey({ name: 'elsewhere', scope: 'read' });
    await ask(key.raw_key, { scope: 'write', binding_message: 'not yours' });
    const f = await decideForm(other, 'not yours');
    expect((await decideForm(owner, 'not yours')).action).toBeUndefined();
    // The owner's own CSRF and form tokens (from their keys page), on the other organization's request.
    const keysPage = String((await owner.req('GET', '/dashboard/keys', undefined, { accept: 'text/html' })).body);
    const csrf = /name="csrf" value="([^"]+)"/.exec(keysPage)?.[1] ?? '';
    const token = /name="form_token" value="([^"]+)"/.exec(keysPage)?.[1] ?? '';
    const forged = await owner.req('POST', f.action as string, form({ csrf, form_token: token, decision: 'deny' }), {
      ...FORM,
      origin: 'http://127.0.0.1:8787',
      accept: 'text/html',
    });
    expect(forged.status).toBe(404);
    expect((await decideForm(other, 'not yours')).action).toBe(f.action);
  });
});
