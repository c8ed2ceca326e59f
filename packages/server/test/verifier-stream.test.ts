import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, bearer, type Harness, startHarness } from './harness.js';
import { freshPostgresDatabase, postgresUrl } from './postgres.js';

const CREDENTIAL = 'kwv_verifier-stream-suite-credential-0123456789';
const config = {
  default_plan: 'free',
  plans: { free: { requests_per_minute: null, monthly_requests: null, max_active_keys: null } },
  verifier_credentials: [{ name: 'stream suite', sha256: createHash('sha256').update(CREDENTIAL).digest('hex') }],
};
const redisUrl = process.env.KEYWARD_TEST_REDIS_URL;
if (!redisUrl)
  console.warn('[skip] the change stream across two instances on Redis: set KEYWARD_TEST_REDIS_URL to run it (as .ci/run does)');
if (!postgresUrl) console.warn('[skip] the change stream across two instances on PostgreSQL: set KEYWARD_TEST_DATABASE_URL to run it');

/** An open `GET /v1/verifier/events`: the SSE events as they come (event, id, data), read on a real connection. */
interface Stream {
  status: number;
  contentType: string | null;
  events: { event: string; id: string; data: string; at: number }[];
  /** Resolves with the first event (already come or coming) that `match` accepts, within `ms`. */
  next(
    match: (e: { event: string; data: string }) => boolean,
    ms?: number,
  ): Promise<{ event: string; id: string; data: string; at: number }>;
  close(): void;
}

async function listen(h: Harness): Promise<string> {
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
}

async function openStream(base: string, headers: Record<string, string>): Promise<Stream> {
  const abort = new AbortController();
  const res = await fetch(`${base}/v1/verifier/events`, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const events: Stream['events'] = [];
  const waiters = new Set<() => void>();
  if (res.ok && res.body) {
    void (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          let end = buffer.indexOf('\n\n');
          while (end >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const field = (name: string) =>
              block
                .split('\n')
                .find((l) => l.startsWith(`${name}: `))
                ?.slice(name.length + 2) ?? '';
            if (block.includes('event: ')) events.push({ event: field('event'), id: field('id'), data: field('data'), at: Date.now() });
            for (const w of waiters) w();
            end = buffer.indexOf('\n\n');
          }
        }
      } catch {}
    })();
  } else await res.body?.cancel();
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    events,
    next(match, ms = 2000) {
      return new Promise((ok, fail) => {
        const look = () => {
          const found = events.find(match);
          if (!found) return;
          waiters.delete(look);
          clearTimeout(timer);
          ok(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(look);
          fail(new Error(`no matching event within ${ms} ms; saw ${JSON.stringify(events)}`));
        }, ms);
        waiters.add(look);
        look();
      });
    },
    close: () => abort.abort(),
  };
}

describe('the change stream for remote verifiers (GET /v1/verifier/events)', () => {
  let h: Harness;
  let base: string;
  let owner: Agent;
  beforeAll(async () => {
    h = await startHarness(config);
    base = await listen(h);
    owner = new Agent(h.app);
    await owner.signup('stream@example.com');
  });
  afterAll(() => h.close());

  it('refuses a caller without a verifier credential, or with an unknown one, in the error envelope', async () => {
    for (const headers of [{}, bearer('kwv_not-one-of-ours-0123456789abcdef')]) {
      const s = await openStream(base, headers);
      expect(s.status).toBe(401);
      const r = await fetch(`${base}/v1/verifier/events`, { headers });
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    }
  });

  it('streams a revocation naming the key, numbered with an id, and starts a new verifier with a reset', async () => {
    const key = await owner.createKey({ name: 'to revoke' });
    const s = await openStream(base, bearer(CREDENTIAL));
    try {
      expect(s.status).toBe(200);
      expect(s.contentType).toMatch(/^text\/event-stream/);
      expect((await s.next((e) => e.event === 'reset')).data).toContain('new');
      const revokedAt = Date.now();
      expect((await owner.req('DELETE', `/api/developers/keys/${key.id}`)).status).toBe(200);
      const change = await s.next((e) => e.event === 'change' && e.data.includes(key.id), 1000);
      expect(change.at - revokedAt).toBeLessThan(1000);
      expect(JSON.parse(change.data)).toEqual({ type: 'key', key_id: key.id });
      expect(change.id).toMatch(/^[0-9a-f]+-\d+$/);
    } finally {
      s.close();
    }
  });

  it('a verifier that reconnects with Last-Event-ID gets what it missed; one from before a restart is told to reset', async () => {
    const first = await openStream(base, bearer(CREDENTIAL));
    const start = await first.next((e) => e.event === 'reset');
    first.close();
    const rotated = await owner.createKey({ name: 'rotate me' });
    const rotation = await owner.req('POST', `/api/developers/keys/${rotated.id}/rotate`, { grace_period_seconds: 0 });
    expect(rotation.status).toBe(201);
    const again = await openStream(base, { ...bearer(CREDENTIAL), 'last-event-id': start.id });
    try {
      await again.next((e) => e.event === 'ready');
      expect(again.events.some((e) => e.event === 'change' && e.data.includes(rotated.id))).toBe(true);
      expect(again.events.some((e) => e.event === 'reset')).toBe(false);
    } finally {
      again.close();
    }
    const stale = await openStream(base, { ...bearer(CREDENTIAL), 'last-event-id': '0123456789ab-7' });
    try {
      expect((await stale.next((e) => e.event === 'reset')).data).toContain('restarted');
    } finally {
      stale.close();
    }
  });

  it("keeps a quiet stream open past the server's idle and request timeouts", async () => {
    const strict = await startHarness({ ...config, http: { idle_timeout_ms: 1000, request_timeout_ms: 1500, headers_timeout_ms: 1000 } });
    const owner = new Agent(strict.app);
    await owner.signup('quiet@example.com');
    const key = await owner.createKey({ name: 'later' });
    const s = await openStream(await listen(strict), bearer(CREDENTIAL));
    try {
      await s.next((e) => e.event === 'reset');
      await new Promise((r) => setTimeout(r, 2500));
      expect((await owner.req('DELETE', `/api/developers/keys/${key.id}`)).status).toBe(200);
      await s.next((e) => e.data.includes(key.id), 1000);
    } finally {
      s.close();
      await strict.close();
    }
  });

  it('lets the server close while verifiers are connected', async () => {
    const other = await startHarness(config);
    const s = await openStream(await listen(other), bearer(CREDENTIAL));
    await s.next((e) => e.event === 'reset');
    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe('usage a remote verifier reports (POST /v1/verifier/usage)', () => {
  let h: Harness;
  let owner: Agent;
  beforeAll(async () => {
    h = await startHarness(config);
    owner = new Agent(h.app);
    await owner.signup('reports@example.com');
  });
  afterAll(() => h.close());

  it('counts each reported request in the key’s usage and request log, and ignores keys of another organization', async () => {
    const key = await owner.createKey({ name: 'cached at the edge' });
    const me = await owner.req('GET', '/api/me');
    const orgId = me.body.organization?.id ?? me.body.org?.id;
    const row = { key_id: key.id, org_id: orgId, at: h.clock.now(), method: 'GET', path: '/things', ip: '203.0.113.7' };
    const rows = [row, { ...row, count: 2, cost: 2 }];
    const stranger = { ...row, org_id: 'org_someoneelse' };
    const r = await owner.req('POST', '/v1/verifier/usage', { requests: [...rows, stranger] }, bearer(CREDENTIAL));
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ recorded: 3, unknown: 1 });
    expect((await owner.req('GET', `/api/developers/keys/${key.id}/usage`)).body.month.used).toBe(3);
    await h.keyward.recorder.flush();
    const usage = await owner.req('GET', `/api/developers/keys/${key.id}/usage`);
    expect(usage.body.month.used).toBe(3);
    expect(usage.body.recent_requests).toHaveLength(3);
    expect(usage.body.recent_requests[0]).toMatchObject({ method: 'GET', path: '/things', ip: '203.0.113.7' });
  });

  it('refuses a report without the credential (401) and a malformed one (400), in the envelope', async () => {
    const anon = await owner.req('POST', '/v1/verifier/usage', { requests: [] }, {});
    expect(anon.status).toBe(401);
    expect(anon.body.error.code).toBe('unauthorized');
    const bad = await owner.req('POST', '/v1/verifier/usage', { requests: [{ key_id: 'k' }] }, bearer(CREDENTIAL));
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_request');
  });
});

describe('the cache hint of POST /v1/keys/verify', () => {
  let h: Harness;
  let owner: Agent;
  beforeAll(async () => {
    h = await startHarness({
      ...config,
      default_plan: 'business',
      plans: {
        free: { requests_per_minute: 60, monthly_requests: null, max_active_keys: null },
        business: { requests_per_minute: null, monthly_requests: null, max_active_keys: null },
      },
    });
    owner = new Agent(h.app);
    await owner.signup('hint@example.com');
  });
  afterAll(() => h.close());

  it('tells a verifier whether the answer may be reused (a limited key only from a lease) and until when; tells nobody else', async () => {
    const expires = new Date(h.clock.now() + 3_600_000).toISOString();
    const plain = await owner.createKey({ name: 'unlimited', expires_at: expires });
    const limited = await owner.createKey({ name: 'limited', tier: 'free' });
    const ask = (key: string, headers: Record<string, string>) => owner.req('POST', '/v1/keys/verify', { key }, headers);
    expect((await ask(plain.raw_key, bearer(CREDENTIAL))).body.cache).toEqual({ limited: false, until: expires, ancestor_ids: [] });
    expect((await ask(limited.raw_key, bearer(CREDENTIAL))).body.cache).toEqual({ limited: true, until: null, ancestor_ids: [] });
    const anyone = await ask(plain.raw_key, {});
    expect(anyone.body.valid).toBe(true);
    expect(anyone.body).not.toHaveProperty('cache');
  });
});

/** Two instances and what they share: Redis (pub/sub), or one PostgreSQL database and no Redis (LISTEN/NOTIFY). */
const shared: [string, boolean, () => Promise<{ runtime: { redisUrl?: string; databaseUrl?: string }; drop(): Promise<void> }>][] = [
  ['sharing Redis', !redisUrl, async () => ({ runtime: { redisUrl: redisUrl as string }, drop: async () => {} })],
  [
    'on one PostgreSQL database, no Redis',
    !postgresUrl,
    async () => {
      const db = await freshPostgresDatabase();
      return { runtime: { databaseUrl: db.url }, drop: db.drop };
    },
  ],
];

describe.each(shared)('the change stream across two instances %s', (_name, skip, setUp) => {
  let a: Harness;
  let b: Harness;
  let drop = async () => {};
  beforeAll(async () => {
    if (skip) return;
    const s = await setUp();
    drop = s.drop;
    a = await startHarness(config, {}, s.runtime);
    b = await startHarness(config, {}, s.runtime);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await drop();
  });

  it.skipIf(skip)('a revocation on one instance reaches a verifier connected to the other within a second', async () => {
    const owner = new Agent(a.app);
    await owner.signup('two-instances@example.com');
    const key = await owner.createKey({ name: 'revoked on A' });
    const s = await openStream(await listen(b), bearer(CREDENTIAL));
    try {
      await s.next((e) => e.event === 'reset');
      const revokedAt = Date.now();
      expect((await owner.req('DELETE', `/api/developers/keys/${key.id}`)).status).toBe(200);
      const change = await s.next((e) => e.data.includes(key.id), 1000);
      expect(change.at - revokedAt).toBeLessThan(1000);
    } finally {
      s.close();
    }
  });
});
