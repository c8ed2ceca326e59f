import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, bearer, type Harness, startHarness } from './harness.js';

/** A stand-in for GitHub's `GET /meta/public_keys/secret_scanning`, with ECDSA P-256 keys made here. */
class GitHubKeys {
  published: { id: string; pem: string; key: KeyObject }[] = [];
  fetches = 0;
  #server: Server;
  url = '';

  constructor() {
    this.#server = createServer((_req, res) => {
      this.fetches++;
      const public_keys = this.published.map((k, i) => ({ key_identifier: k.id, key: k.pem, is_current: i === this.published.length - 1 }));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ public_keys }));
    });
  }

  async start() {
    await new Promise<void>((ok) => this.#server.listen(0, '127.0.0.1', ok));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/meta/public_keys/secret_scanning`;
    return this;
  }

  /** A key pair like GitHub's: its identifier is the hex SHA-256 of the public key's PEM. */
  newKey(publish = true) {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const k = { id: createHash('sha256').update(pem).digest('hex'), pem, key: privateKey };
    if (publish) this.published.push(k);
    return {
      id: k.id,
      headers: (body: string) => ({
        'github-public-key-identifier': k.id,
        'github-public-key-signature': sign('sha256', Buffer.from(body), { key: privateKey, dsaEncoding: 'der' }).toString('base64'),
        'content-type': 'application/json',
      }),
    };
  }

  close() {
    this.#server.close();
  }
}

const finding = (token: string, url = 'https://github.com/octo/leaky/blob/main/.env') =>
  JSON.stringify([{ token, type: 'keyward_api_key', url, source: 'content' }]);

async function post(h: Harness, body: string, headers: Record<string, string>) {
  const r = await h.app.inject({ method: 'POST', url: '/api/leaks/github', payload: body, headers });
  return { status: r.statusCode, body: r.json() as any };
}

const labelOf = (feedback: { token_hash: string; label: string }[], token: string) =>
  feedback.find((f) => f.token_hash === createHash('sha256').update(token).digest('hex'))?.label;

describe('leak reports from GitHub secret scanning', () => {
  let h: Harness;
  let gh: GitHubKeys;
  let owner: Agent;
  const whoami = async (raw: string) => (await h.app.inject({ method: 'GET', url: '/v1/whoami', headers: bearer(raw) })).statusCode;

  beforeAll(async () => {
    gh = await new GitHubKeys().start();
    h = await startHarness({ default_plan: 'free', leaks: { github_keys_url: gh.url } });
    owner = new Agent(h.app);
    await owner.signup('leaky@example.com');
  });
  afterAll(async () => {
    await h.close();
    gh.close();
  });

  it('a signed report of a live key revokes it, answers true_positive, and shows where it was found', async () => {
    const k = gh.newKey();
    const key = await owner.createKey({ name: 'exposed' });
    expect(await whoami(key.raw_key)).toBe(200);
    const url = 'https://github.com/octo/leaky/blob/abc123/config/app.env';
    const body = finding(key.raw_key, url);
    const r = await post(h, body, k.headers(body));
    expect(r.status).toBe(200);
    expect(r.body).toEqual([
      { token_hash: createHash('sha256').update(key.raw_key).digest('hex'), token_type: 'keyward_api_key', label: 'true_positive' },
    ]);
    expect(await whoami(key.raw_key)).toBe(401);
    const shown = (await owner.req('GET', `/api/developers/keys/${key.id}`)).body.key;
    expect(shown).toMatchObject({ status: 'revoked', leak: { url, reporter: 'github', source: 'content' } });
    const audit = (await owner.req('GET', `/api/audit?key_id=${key.id}`)).body.events;
    expect(audit[0]).toMatchObject({ action: 'key.leaked', actor: { type: 'system', id: 'github' } });
    expect(JSON.stringify(audit[0])).toContain(url);
  });

  it('unsigned, badly signed, altered, or signed by an unpublished key: 401 and nothing revoked', async () => {
    const k = gh.newKey();
    const stranger = gh.newKey(false);
    const key = await owner.createKey({ name: 'victim' });
    const body = finding(key.raw_key);
    const cases: [string, string, Record<string, string>][] = [
      ['unsigned', body, { 'content-type': 'application/json' }],
      ['signature of other bytes', body, { ...k.headers(`${body} `) }],
      ['not DER', body, { ...k.headers(body), 'github-public-key-signature': Buffer.alloc(64, 7).toString('base64') }],
      ['unknown identifier', body, stranger.headers(body)],
      ['altered after signing', body.replace('leaky', 'other'), k.headers(body)],
    ];
    for (const [what, sent, headers] of cases) {
      const r = await post(h, sent, headers);
      expect(r.status, what).toBe(401);
      expect(r.body.error.code, what).toBe('unauthorized');
    }
    expect(await whoami(key.raw_key)).toBe(200);
  });

  it("a mistyped token and another organization's revoked key are false positives; nothing of ours is touched", async () => {
    const k = gh.newKey();
    h.clock.advance(60_000); // a key identifier not yet known refetches GitHub's keys at most once a minute
    const mine = await owner.createKey({ name: 'bystander' });
    const typo = mine.raw_key.slice(0, -1) + (mine.raw_key.endsWith('A') ? 'B' : 'A');
    const other = new Agent(h.app);
    await other.signup('other-org@example.com');
    const theirs = await other.createKey({ name: 'theirs' });
    await other.req('DELETE', `/api/developers/keys/${theirs.id}`);
    for (const token of [typo, theirs.raw_key]) {
      const body = finding(token);
      const r = await post(h, body, k.headers(body));
      expect(r.status).toBe(200);
      expect(labelOf(r.body, token)).toBe('false_positive');
    }
    expect(await whoami(mine.raw_key)).toBe(200);
  });

  it('a batch of 1,000 findings (over the 64 KB body limit of the API) is answered finding by finding', async () => {
    const k = gh.newKey();
    h.clock.advance(60_000); // a key identifier not yet known refetches GitHub's keys at most once a minute
    const key = await owner.createKey({ name: 'in a batch' });
    const noise = Array.from({ length: 999 }, (_, i) => ({
      token: `kw_test_${String(i).padStart(42, 'x')}`,
      type: 'keyward_api_key',
      url: `https://github.com/o/r/blob/${i}`,
    }));
    const body = JSON.stringify([
      ...noise,
      { token: key.raw_key, type: 'keyward_api_key', url: 'https://github.com/o/r/blob/x', source: 'content' },
    ]);
    expect(body.length).toBeGreaterThan(64 * 1024);
    const r = await post(h, body, k.headers(body));
    expect(r.status).toBe(200);
    expect(r.body).toHaveLength(1000);
    expect(r.body.filter((f: { label: string }) => f.label === 'true_positive')).toHaveLength(1);
    expect(labelOf(r.body, key.raw_key)).toBe('true_positive');
  });

  it('a report signed with a key GitHub published after the list was fetched is verified after a refetch', async () => {
    const before = gh.fetches;
    const late = gh.newKey();
    h.clock.advance(60_000); // a key identifier not yet known refetches GitHub's keys at most once a minute
    const key = await owner.createKey({ name: 'late' });
    const body = finding(key.raw_key);
    const r = await post(h, body, late.headers(body));
    expect(r.status).toBe(200);
    expect(labelOf(r.body, key.raw_key)).toBe('true_positive');
    expect(gh.fetches).toBeGreaterThan(before);
  });

  it('anyone may report a key: the answer is the same for a live key and for noise; the live key is revoked', async () => {
    const key = await owner.createKey({ name: 'pasted' });
    const live = await h.app.inject({
      method: 'POST',
      url: '/v1/keys/report-leak',
      payload: { key: key.raw_key, url: 'https://pastebin.example/x' },
    });
    const noise = await h.app.inject({ method: 'POST', url: '/v1/keys/report-leak', payload: { key: 'kw_test_nothing' } });
    expect([live.statusCode, noise.statusCode]).toEqual([202, 202]);
    expect(live.body).toBe(noise.body);
    for (let i = 0; i < 50 && (await whoami(key.raw_key)) === 200; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await whoami(key.raw_key)).toBe(401);
    expect((await owner.req('GET', `/api/developers/keys/${key.id}`)).body.key.leak).toMatchObject({
      reporter: 'report',
      url: 'https://pastebin.example/x',
    });
  });
});

describe('leaks.on_report: notify', () => {
  it('flags and audits a reported key but leaves it working', async () => {
    const gh = await new GitHubKeys().start();
    const h = await startHarness({ default_plan: 'free', leaks: { github_keys_url: gh.url, on_report: 'notify' } });
    const owner = new Agent(h.app);
    await owner.signup('notify@example.com');
    const k = gh.newKey();
    const key = await owner.createKey({ name: 'flagged' });
    const body = finding(key.raw_key);
    const r = await post(h, body, k.headers(body));
    expect(labelOf(r.body, key.raw_key)).toBe('true_positive');
    expect((await h.app.inject({ method: 'GET', url: '/v1/whoami', headers: bearer(key.raw_key) })).statusCode).toBe(200);
    expect((await owner.req('GET', `/api/developers/keys/${key.id}`)).body.key).toMatchObject({
      status: 'active',
      leak: { reporter: 'github' },
    });
    await h.close();
    gh.close();
  });
});
