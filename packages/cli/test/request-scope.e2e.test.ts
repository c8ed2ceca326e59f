import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inKeyring, read, tools, waitFor } from './keyring.js';
import { HttpAgent, ServerProcess } from './server-process.js';

/** The person on the Requests page: presses Approve (or Deny) on the request with this reason. */
async function decide(person: HttpAgent, base: string, reason: string, decision: 'approve' | 'deny') {
  const end = Date.now() + 20_000;
  let page = '';
  while (Date.now() < end) {
    const res = await fetch(`${base}/dashboard/requests`, { headers: { cookie: person.cookie, accept: 'text/html' } });
    page = await res.text();
    if (page.includes(reason)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const rest = page.slice(page.indexOf(reason));
  const action = /<form method="post" action="([^"]+\/decide)"/.exec(rest)?.[1];
  if (!action) throw new Error(`the request "${reason}" never appeared on the Requests page`);
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]+)"`).exec(rest)?.[1] ?? '';
  const res = await fetch(base + action, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: person.cookie, 'content-type': 'application/x-www-form-urlencoded', origin: base },
    body: new URLSearchParams({ csrf: field('csrf'), form_token: field('form_token'), decision, scope: 'write' }),
  });
  expect(res.status).toBe(303);
}

/**
 * Runs `keyward request-scope write` with `key` in KEYWARD_API_KEY inside a private keyring, the person deciding on
 * the Requests page meanwhile, then `keyward whoami` from the keyring: what each printed and its exit code.
 */
async function requestScopeRound(server: ServerProcess, owner: HttpAgent, key: string, reason: string, decision: 'approve' | 'deny') {
  const home = mkdtempSync(join(tmpdir(), 'kw-rs-home-'));
  const work = mkdtempSync(join(tmpdir(), 'kw-rs-'));
  try {
    const script = [
      `KEYWARD_API_KEY=${key} $KW request-scope write --reason "${reason}" --server ${server.base} > $WORK/rs.out 2>&1; echo $? > $WORK/rs.rc`,
      `$KW whoami --server ${server.base} --environment test > $WORK/who.out 2>&1; echo $? > $WORK/who.rc`,
    ].join('\n');
    const done = inKeyring(script, home, work);
    await decide(owner, server.base, reason, decision);
    await done;
    await waitFor(join(work, 'who.rc'), /\d/);
    return {
      code: read(join(work, 'rs.rc')),
      said: read(join(work, 'rs.out')),
      whoCode: read(join(work, 'who.rc')),
      who: read(join(work, 'who.out')),
    };
  } finally {
    rmSync(home, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
}

describe.skipIf(!tools)('keyward request-scope against the real server and a real Secret Service', () => {
  let server: ServerProcess;
  let owner: HttpAgent;
  beforeAll(async () => {
    server = await new ServerProcess().start();
    owner = await HttpAgent.newAccount(server.base, 'approver@cli.example', { name: 'Ada Approver' });
  });
  afterAll(() => server.stop());

  it('waits for the person, says who approved, and stores the write key in the keyring (whoami then says write)', async () => {
    const reader = await owner.createKey({ name: 'cli reader', scope: 'read', agent: 'cli-agent' });
    const r = await requestScopeRound(server, owner, reader.raw_key, 'save the weekly report', 'approve');
    expect(r.code, r.said).toBe('0');
    expect(r.said).toMatch(/Approved by Ada Approver <approver@cli\.example>: scope write/);
    expect(r.said).not.toMatch(/kw_test_[0-9A-Za-z]{42}/);
    expect(r.whoCode, r.who).toBe('0');
    expect(r.who).toMatch(/scope write/);
    // The key that asked goes on as it was.
    const still = await new HttpAgent(server.base).req('GET', '/v1/whoami', undefined, { authorization: `Bearer ${reader.raw_key}` });
    expect((still.body as { scope: string }).scope).toBe('read');
  }, 60_000);

  it('denied: exits 1, says so, and stores nothing', async () => {
    const reader = await owner.createKey({ name: 'cli reader 2', scope: 'read' });
    const r = await requestScopeRound(server, owner, reader.raw_key, 'please deny this', 'deny');
    expect(r.code).toBe('1');
    expect(r.said).toMatch(/Denied/);
    expect(r.whoCode).not.toBe('0');
  }, 60_000);
});
