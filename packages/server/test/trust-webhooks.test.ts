import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, type Harness, startHarness, TestClock } from './harness.js';
import { freshPostgresDatabase, postgresUrl } from './postgres.js';

/**
 * Work is shared fairly between organizations: one organization whose webhook receivers never answer (hundreds of
 * deliveries queued) does not delay another organization's events; each webhook has a cap on tries under way at
 * once; test sends are rate-limited per organization. On SQLite and PostgreSQL (the due deliveries come from storage).
 */

/** Accepts connections and never answers; counts the connections open at once, per path. */
class Tarpit {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly open = new Map<string, number>();
  readonly most = new Map<string, number>();
  /** The most connections open at once, over every path. */
  mostAtOnce = 0;
  url = '';

  constructor() {
    this.#server = createServer((socket) => {
      this.#sockets.add(socket);
      let head = '';
      let path: string | null = null;
      socket.on('data', (chunk: Buffer) => {
        if (path !== null) return;
        head += chunk.toString('latin1');
        const line = /^[A-Z]+ (\S+) HTTP/.exec(head);
        if (!line) return;
        path = line[1] as string;
        const n = (this.open.get(path) ?? 0) + 1;
        this.open.set(path, n);
        this.most.set(path, Math.max(this.most.get(path) ?? 0, n));
        this.mostAtOnce = Math.max(this.mostAtOnce, this.total());
      });
      socket.on('close', () => {
        this.#sockets.delete(socket);
        if (path !== null) this.open.set(path, (this.open.get(path) ?? 1) - 1);
      });
      socket.on('error', () => {});
    });
  }

  async start() {
    await new Promise<void>((ok) => this.#server.listen(0, '127.0.0.1', ok));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/tarpit`;
    return this;
  }

  /** Connections open now, over every path. */
  total(): number {
    return [...this.open.values()].reduce((a, b) => a + b, 0);
  }

  close() {
    this.#server.close();
    for (const s of this.#sockets) s.destroy();
  }
}

/** Answers 200 at once and notes when each event arrived. */
class Receiver {
  readonly got: { at: number; body: string }[] = [];
  readonly #server: HttpServer;
  url = '';
  constructor() {
    this.#server = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        this.got.push({ at: Date.now(), body });
        res.writeHead(200).end();
      });
    });
  }
  async start() {
    await new Promise<void>((ok) => this.#server.listen(0, '127.0.0.1', ok));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hooks`;
    return this;
  }
  close() {
    this.#server.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const stores = [
  { name: 'SQLite', enabled: true },
  { name: 'PostgreSQL', enabled: Boolean(postgresUrl) },
];

/** A keyward (real time: the dispatcher's leases and the receivers' clocks agree), a tarpit and a good receiver. */
async function openWorld(storage: { name: string }, webhooks: Record<string, unknown>) {
  const tarpit = await new Tarpit().start();
  const good = await new Receiver().start();
  const db = storage.name === 'PostgreSQL' ? await freshPostgresDatabase() : null;
  const h = await startHarness(
    { default_plan: 'business', webhooks: { allow_private_targets: true, ...webhooks } },
    { clock: new TestClock(Date.now()) },
    db ? { databaseUrl: db.url } : {},
  );
  const close = async () => {
    tarpit.close();
    good.close();
    await h.close();
    await db?.drop();
  };
  return { h, tarpit, good, close };
}

for (const storage of stores) {
  describe.skipIf(!storage.enabled)(`trust: one organization's slow webhook receivers do not hold up another's (${storage.name})`, () => {
    let h: Harness;
    let tarpit: Tarpit;
    let good: Receiver;
    let close = async () => {};

    beforeAll(async () => {
      ({ h, tarpit, good, close } = await openWorld(storage, {}));
    }, 30_000);
    afterAll(() => close(), 30_000);

    it('with hundreds of deliveries to receivers that never answer queued by one organization, another organization’s key.created arrives within seconds; each webhook has at most 2 tries under way, each organization 8', async () => {
      const noisy = new Agent(h.app);
      await noisy.signup(`noisy-${storage.name}@example.com`);
      const quiet = new Agent(h.app);
      await quiet.signup(`quiet-${storage.name}@example.com`);
      expect((await quiet.req('POST', '/api/webhooks', { url: good.url, events: ['key.created'] })).status).toBe(201);
      for (let i = 0; i < 10; i++) expect((await noisy.req('POST', '/api/webhooks', { url: `${tarpit.url}/${i}` })).status).toBe(201);
      // 40 keys: each key.created goes to all 10 webhooks, 400 deliveries that each hold a try for the timeout.
      for (let i = 0; i < 40; i++) await noisy.createKey({ name: `noise-${i}` });
      await sleep(1000);
      expect(tarpit.total()).toBeGreaterThan(0);

      const key = await quiet.createKey({ name: 'quiet-key' });
      const t0 = Date.now();
      let arrived: number | null = null;
      while (arrived === null && Date.now() - t0 < 8000) {
        const hit = good.got.find((g) => g.body.includes(key.id));
        if (hit) arrived = hit.at - t0;
        else await sleep(50);
      }
      expect(arrived).not.toBeNull();
      expect(arrived ?? Infinity).toBeLessThan(3000);
      // Per-target concurrency cap: no webhook ever had more than 2 tries under way at once.
      expect(Math.max(...tarpit.most.values())).toBeLessThanOrEqual(2);
      // And the organization as a whole at most 8 (its share of this instance's 64 slots).
      expect(tarpit.mostAtOnce).toBeGreaterThanOrEqual(2);
      expect(tarpit.mostAtOnce).toBeLessThanOrEqual(8);
    }, 60_000);

    it('test sends are rate-limited per organization: past the limit, 429 with Retry-After in the error envelope', async () => {
      const admin = new Agent(h.app);
      await admin.signup(`tester-${storage.name}@example.com`);
      const hook = (await admin.req('POST', '/api/webhooks', { url: `${tarpit.url}/tests` })).body.webhook;
      const answers = [];
      for (let i = 0; i < 100; i++) answers.push(await admin.req('POST', `/api/webhooks/${hook.id}/test`, {}));
      const statuses = answers.map((a) => a.status);
      expect(statuses[0]).toBe(202);
      const first429 = statuses.indexOf(429);
      expect(first429).toBeGreaterThan(0);
      expect(statuses.slice(first429).every((s) => s === 429)).toBe(true);
      const refused = answers[first429];
      expect(Number(refused?.headers['retry-after'])).toBeGreaterThan(0);
      expect(refused?.body.error).toMatchObject({ code: 'rate_limited' });
      expect(refused?.body.error.message).toMatch(/test/i);
      // Another organization's test sends are not affected.
      const other = new Agent(h.app);
      await other.signup(`other-tester-${storage.name}@example.com`);
      const theirs = (await other.req('POST', '/api/webhooks', { url: good.url })).body.webhook;
      expect((await other.req('POST', `/api/webhooks/${theirs.id}/test`, {})).status).toBe(202);
    }, 60_000);
  });
}

for (const storage of stores) {
  describe.skipIf(!storage.enabled)(
    `trust: several organizations' silent receivers hold every slot, and another organization's webhooks wait for their backlog (${storage.name})`,
    () => {
      let h: Harness;
      let tarpit: Tarpit;
      let good: Receiver;
      let close = async () => {};

      beforeAll(async () => {
        // A short delivery timeout: slots free up every second, and each freed slot is the question.
        ({ h, tarpit, good, close } = await openWorld(storage, { timeout_seconds: 1 }));
      }, 30_000);
      afterAll(() => close(), 30_000);

      it('nine organizations (more than the 64 slots at 8 each) queue hundreds of deliveries to receivers that never answer; a tenth organization’s key.created takes the next slot that frees', async () => {
        for (let o = 0; o < 9; o++) {
          const noisy = new Agent(h.app);
          await noisy.signup(`crowd-${o}-${storage.name}@example.com`);
          for (let i = 0; i < 4; i++)
            expect((await noisy.req('POST', '/api/webhooks', { url: `${tarpit.url}/${o}-${i}` })).status).toBe(201);
          // 30 keys: 120 deliveries each, 1,080 in all, about 17 s of the whole dispatcher's time.
          for (let i = 0; i < 30; i++) await noisy.createKey({ name: `crowd-${o}-${i}` });
        }
        const quiet = new Agent(h.app);
        await quiet.signup(`crowd-quiet-${storage.name}@example.com`);
        expect((await quiet.req('POST', '/api/webhooks', { url: good.url, events: ['key.created'] })).status).toBe(201);
        for (let i = 0; i < 200 && tarpit.total() < 60; i++) await sleep(50);
        expect(tarpit.total()).toBeGreaterThanOrEqual(60);

        const key = await quiet.createKey({ name: 'quiet-key' });
        const t0 = Date.now();
        let arrived: number | null = null;
        while (arrived === null && Date.now() - t0 < 10_000) {
          const hit = good.got.find((g) => g.body.includes(key.id));
          if (hit) arrived = hit.at - t0;
          else await sleep(50);
        }
        expect(arrived).not.toBeNull();
        // One delivery timeout (1 s) frees slots; the organization with no try under way gets the first (before, it
        // waited behind the crowd's backlog: 7.5 s with 720 deliveries).
        expect(arrived ?? Infinity).toBeLessThan(4000);
      }, 90_000);
    },
  );
}
