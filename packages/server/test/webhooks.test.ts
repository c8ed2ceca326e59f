import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createKeyward, defineConfig, sqliteStore } from '../src/index.js';
import { Agent, type Harness, startHarness, TestClock } from './harness.js';
import { postgresUrl } from './postgres.js';

/** A webhook receiver on loopback: answers `fail` times 500, then 200; keeps every try. */
class Receiver {
  tries: { headers: IncomingHttpHeaders; body: string; status: number }[] = [];
  #server: Server;
  url = '';

  constructor(private fail = 0) {
    this.#server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        const status = this.fail > 0 ? 500 : 200;
        if (this.fail > 0) this.fail--;
        this.tries.push({ headers: req.headers, body, status });
        res.writeHead(status).end();
      });
    });
  }

  async start() {
    await new Promise<void>((ok) => this.#server.listen(0, '127.0.0.1', ok));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hooks`;
    return this;
  }

  async until(n: number, kick: () => void) {
    for (let i = 0; i < 200 && this.tries.length < n; i++) {
      kick();
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.tries;
  }

  close() {
    this.#server.close();
  }
}

/** Each try as Standard Webhooks' own library verifies it: the event, or the library's reason for refusing it. */
function verified(secret: string, tries: Receiver['tries']) {
  return tries.map((t) => new Webhook(secret).verify(t.body, t.headers as Record<string, string>) as { type: string; data: any });
}

const hooksConfig = { default_plan: 'free', webhooks: { allow_private_targets: true, retry_schedule_seconds: [5, 15, 60] } };

describe('webhooks', () => {
  let h: Harness;
  let admin: Agent;
  // Real time, so that the receiver's library accepts the signed timestamps; retries are reached by moving it on.
  const clock = new TestClock(Date.now());
  const receivers: Receiver[] = [];
  const receiver = async (fail = 0) => {
    const r = await new Receiver(fail).start();
    receivers.push(r);
    return r;
  };
  const kick = () => h.keyward.dispatcher.kick();
  // The dispatcher records a try (and when to try next, from the clock) just after the receiver answered: wait for
  // that record before moving the clock or reading the delivery log, or a loaded machine reads it a try behind.
  const recorded = async (hookId: string, n: number) => {
    const org = (await admin.req('GET', '/api/me')).body.organization.id as string;
    for (let i = 0; i < 200; i++) {
      const [d] = await h.keyward.store.listDeliveries(org, hookId, { limit: 1 });
      if ((d?.attempts.length ?? 0) >= n) return;
      await new Promise((res) => setTimeout(res, 10));
    }
  };

  beforeAll(async () => {
    h = await startHarness(hooksConfig, { clock });
    admin = new Agent(h.app);
    await admin.signup('hooks-admin@example.com');
  });
  afterAll(() => h.close());
  // Each test's webhooks go with it: a later receiver may be given a closed one's port.
  afterEach(async () => {
    for (const w of (await admin.req('GET', '/api/webhooks')).body.webhooks) await admin.req('DELETE', `/api/webhooks/${w.id}`);
    for (const r of receivers.splice(0)) r.close();
  });

  it('key events reach a registered receiver, signed as Standard Webhooks says (its library verifies them)', async () => {
    const r = await receiver();
    const made = await admin.req('POST', '/api/webhooks', { url: r.url, events: ['key.created', 'key.revoked'] });
    expect(made.status).toBe(201);
    expect(made.body.secret).toMatch(/^whsec_[A-Za-z0-9+/=]{32}$/);
    const key = await admin.createKey({ name: 'hooked' });
    await admin.req('DELETE', `/api/developers/keys/${key.id}`);
    const tries = await r.until(2, kick);
    const events = verified(made.body.secret, tries);
    expect(events.map((e) => e.type).sort()).toEqual(['key.created', 'key.revoked']);
    expect(events.every((e) => e.data.key_id === key.id && e.data.organization_id)).toBe(true);
    expect(tries[0]?.headers['webhook-id']).toMatch(/^msg_/);
    // A tampered body fails the receiver's check.
    expect(() => new Webhook(made.body.secret).verify(`${tries[0]?.body} `, tries[0]?.headers as Record<string, string>)).toThrow();
  });

  it('a receiver answering 500 three times gets the event on the 4th try, on the schedule, with the same webhook-id', async () => {
    const r = await receiver(3);
    const made = await admin.req('POST', '/api/webhooks', { url: r.url, events: ['key.created'] });
    await admin.createKey({ name: 'retried' });
    await r.until(1, kick);
    for (const wait of [5, 15, 60]) {
      await recorded(made.body.webhook.id, r.tries.length);
      clock.advance(wait * 1000 - 1);
      kick();
      await new Promise((res) => setTimeout(res, 100));
      clock.advance(1);
      await r.until(r.tries.length + 1, kick);
    }
    expect(r.tries.map((t) => t.status)).toEqual([500, 500, 500, 200]);
    expect(new Set(r.tries.map((t) => t.headers['webhook-id'])).size).toBe(1);
    await recorded(made.body.webhook.id, 4);
    const log = await admin.req('GET', `/api/webhooks/${made.body.webhook.id}/deliveries`);
    expect(log.status).toBe(200);
    expect(log.body.deliveries[0]).toMatchObject({ event_type: 'key.created', status: 'delivered' });
    expect(log.body.deliveries[0].attempts.map((a: { status: number }) => a.status)).toEqual([500, 500, 500, 200]);
  });

  it('past the schedule a delivery has failed; "send again" tries it once more now; a test event reaches the receiver', async () => {
    const r = await receiver(4);
    const made = await admin.req('POST', '/api/webhooks', { url: r.url, events: ['key.revoked'] });
    const key = await admin.createKey({ name: 'doomed' });
    await admin.req('DELETE', `/api/developers/keys/${key.id}`);
    await r.until(1, kick);
    const hook = made.body.webhook.id;
    for (const wait of [5, 15, 60]) {
      await recorded(hook, r.tries.length);
      clock.advance(wait * 1000);
      await r.until(r.tries.length + 1, kick);
    }
    await recorded(hook, 4);
    const [failed] = (await admin.req('GET', `/api/webhooks/${hook}/deliveries`)).body.deliveries;
    expect(failed).toMatchObject({ status: 'failed', next_attempt_at: null });
    expect((await admin.req('POST', `/api/webhooks/deliveries/${failed.id}/retry`, {})).status).toBe(202);
    await r.until(5, kick);
    expect(r.tries.at(-1)?.status).toBe(200);
    await recorded(hook, 5);
    expect((await admin.req('GET', `/api/webhooks/${hook}/deliveries`)).body.deliveries[0].status).toBe('delivered');

    expect((await admin.req('POST', `/api/webhooks/${hook}/test`, {})).status).toBe(202);
    await r.until(6, kick);
    expect(verified(made.body.secret, r.tries.slice(-1))[0]?.type).toBe('webhook.test');
  });

  it('only admins manage webhooks, and only their own organization’s', async () => {
    const r = await receiver();
    const made = await admin.req('POST', '/api/webhooks', { url: r.url });
    const inv = await admin.req('POST', '/api/org/members', { email: 'hooks-reader@example.com', role: 'write' });
    const member = new Agent(h.app);
    await member.signup('hooks-reader@example.com', { invite_token: inv.body.invite_token });
    expect((await member.req('POST', '/api/webhooks', { url: r.url })).status).toBe(403);
    expect((await member.req('GET', '/api/webhooks')).status).toBe(403);
    const stranger = new Agent(h.app);
    await stranger.signup('hooks-stranger@example.com');
    expect((await stranger.req('GET', `/api/webhooks/${made.body.webhook.id}/deliveries`)).status).toBe(404);
    expect((await stranger.req('DELETE', `/api/webhooks/${made.body.webhook.id}`)).status).toBe(404);
    expect((await admin.req('POST', '/api/webhooks', { url: r.url, events: ['key.exploded'] })).body.error.field).toBe('events');
    expect((await admin.req('DELETE', `/api/webhooks/${made.body.webhook.id}`)).status).toBe(204);
  });
});

describe('webhook notices', () => {
  it('quota.threshold at 80 % and 100 % of the month, rate_limit.exceeded once per 10 minutes, key.expiring 7 days before', async () => {
    const clock = new TestClock(Date.now());
    const h = await startHarness(
      {
        plans: { tiny: { requests_per_minute: 2, monthly_requests: 5, max_active_keys: null } },
        default_plan: 'tiny',
        webhooks: { allow_private_targets: true },
      },
      { clock },
    );
    const r = await new Receiver().start();
    const a = new Agent(h.app);
    await a.signup('notices@example.com');
    const made = await a.req('POST', '/api/webhooks', { url: r.url, events: ['quota.threshold', 'rate_limit.exceeded', 'key.expiring'] });
    const key = await a.createKey({ name: 'metered' });
    const call = async () =>
      (await h.app.inject({ method: 'GET', url: '/v1/whoami', headers: { authorization: `Bearer ${key.raw_key}` } })).statusCode;
    // Minute 1: two allowed, then two over the per-minute limit (one notice). Minutes 2 and 3: the quota fills up.
    expect([await call(), await call(), await call(), await call()]).toEqual([200, 200, 429, 429]);
    clock.advance(60_000);
    expect([await call(), await call()]).toEqual([200, 200]); // 4 of 5: 80 %
    clock.advance(60_000);
    expect([await call(), await call()]).toEqual([200, 429]); // 5 of 5: 100 %, then the quota refuses
    const soon = await a.createKey({ name: 'short-lived', expires_at: new Date(clock.now() + 3 * 86_400_000).toISOString() });
    await a.createKey({ name: 'long-lived', expires_at: new Date(clock.now() + 30 * 86_400_000).toISOString() });
    await h.keyward.notices.sweepExpiring();
    await h.keyward.notices.sweepExpiring(); // once per key, however often it is swept
    const tries = await r.until(4, () => h.keyward.dispatcher.kick());
    await new Promise((res) => setTimeout(res, 200));
    const events = verified(made.body.secret, r.tries).map((e) => [e.type, e.data.threshold_percent ?? e.data.name]);
    expect(events.sort()).toEqual([
      ['key.expiring', 'short-lived'],
      ['quota.threshold', 100],
      ['quota.threshold', 80],
      ['rate_limit.exceeded', 'metered'],
    ]);
    expect(tries.length).toBe(4);
    expect(soon.id).toMatch(/^key_/);
    r.close();
    await h.close();
  });
});

describe.skipIf(!postgresUrl)('webhooks on PostgreSQL', () => {
  it('finding: a delivery queued inside the transaction of its change was sent from that finished transaction, and never arrived', async () => {
    const r = await new Receiver().start();
    const h = await startHarness(hooksConfig, { clock: new TestClock(Date.now()) }, { databaseUrl: postgresUrl ?? '' });
    const a = new Agent(h.app);
    await a.signup(`pg-hooks-${Date.now()}@example.com`);
    const made = await a.req('POST', '/api/webhooks', { url: r.url, events: ['key.created'] });
    const key = await a.createKey({ name: 'on postgres' });
    // No kick from the test: the dispatcher's own kick (on queueing) must do it.
    for (let i = 0; i < 100 && r.tries.length === 0; i++) await new Promise((res) => setTimeout(res, 20));
    expect(verified(made.body.secret, r.tries).map((e) => [e.type, e.data.key_id])).toEqual([['key.created', key.id]]);
    expect(h.logs.filter((l) => l.includes('could not be read'))).toEqual([]);
    r.close();
    await h.close();
  });
});

describe('webhook targets', () => {
  it('refuses loopback, private and plain-http URLs unless allow_private_targets, naming the field', async () => {
    const h = await startHarness({ default_plan: 'free' });
    const a = new Agent(h.app);
    await a.signup('ssrf@example.com');
    for (const [url, why] of [
      ['http://127.0.0.1:9/x', /https/],
      ['https://127.0.0.1/x', /private or local address/],
      ['https://10.1.2.3/x', /private or local address/],
      ['https://[::1]/x', /private or local address/],
      ['https://169.254.169.254/latest/meta-data', /private or local address/],
      ['https://user:pass@example.com/x', /user name or password/],
      ['ftp://example.com/x', /http\(s\)/],
    ] as const) {
      const r = await a.req('POST', '/api/webhooks', { url });
      expect(r.status, url).toBe(400);
      expect(r.body.error, url).toMatchObject({ code: 'invalid_request', field: 'url' });
      expect(r.body.error.message, url).toMatch(why);
    }
    await h.close();
  });
});

describe('webhook deliveries survive a restart', () => {
  it('an event queued before a restart (its receiver down) is delivered after it, with the same webhook-id', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kw-hooks-'));
    const config = defineConfig(hooksConfig, {
      host: '127.0.0.1',
      port: 0,
      dataDir: dir,
      databaseUrl: null,
      redisUrl: null,
      secret: 'restart-secret-0123456789abcdef',
    });
    const open = () => createKeyward(config, { store: sqliteStore(join(dir, 'keyward.db')), logger: pino({ level: 'silent' }) });
    const r = await new Receiver(1).start();
    let k = await open();
    const a = new Agent(k.app);
    await a.signup('restart@example.com');
    const made = await a.req('POST', '/api/webhooks', { url: r.url, events: ['key.created'] });
    await a.createKey({ name: 'before restart' });
    await r.until(1, () => k.dispatcher.kick());
    await k.close();

    k = await open();
    // The retry is due 5 s after the failed try: the restarted server sends it on its own.
    await new Promise((res) => setTimeout(res, 5200));
    await r.until(2, () => k.dispatcher.kick());
    expect(r.tries.map((t) => t.status)).toEqual([500, 200]);
    expect(r.tries[0]?.headers['webhook-id']).toBe(r.tries[1]?.headers['webhook-id']);
    expect(verified(made.body.secret, r.tries.slice(1))[0]?.type).toBe('key.created');
    await k.close();
    r.close();
  }, 20_000);
});
