import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, type Harness, startHarness } from './harness.js';

const SERVER_SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src/cli/program.ts');
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createNetServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => ok(port));
    });
  });
}

/** A certificate for 127.0.0.1, made for this run (the server process trusts it through NODE_EXTRA_CA_CERTS). */
function makeCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

/**
 * An https server on 127.0.0.1 that answers every path with a chunked metadata document that never ends in time:
 * `/big/…` as fast as it can (1 MB chunks, up to 256 MB or 30 s), `/slow/…` one byte every 250 ms,
 * anything else 404. Counts what it sent and the streams open at once.
 */
class HostileDocuments {
  readonly sent = new Map<string, number>();
  open = 0;
  maxOpen = 0;
  port = 0;
  readonly #server;
  readonly #sockets = new Set<Socket>();

  constructor(tls: { cert: string; key: string }) {
    this.#server = createHttpsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, (req, res) => {
      const path = req.url ?? '/';
      this.sent.set(path, 0);
      if (!path.startsWith('/big/') && !path.startsWith('/slow/')) return void res.writeHead(404).end();
      this.open++;
      this.maxOpen = Math.max(this.maxOpen, this.open);
      let done = false;
      const end = Date.now() + 30_000;
      res.on('close', () => {
        done = true;
        this.open--;
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = (b: Buffer | string) => {
        this.sent.set(path, (this.sent.get(path) ?? 0) + b.length);
        return res.write(b);
      };
      chunk(`{"client_id":"https://127.0.0.1:${this.port}${path}","redirect_uris":["http://127.0.0.1/cb"],"pad":"`);
      const mb = Buffer.alloc(1 << 20, 0x20);
      const pump = () => {
        while (!done && Date.now() < end && (this.sent.get(path) ?? 0) < 256 << 20) if (!chunk(mb)) return void res.once('drain', pump);
        if (!done) res.end('"}');
      };
      const trickle = () => {
        if (done) return;
        if (Date.now() > end) return void res.end('"}');
        chunk(' ');
        setTimeout(trickle, 250);
      };
      if (path.startsWith('/big/')) pump();
      else trickle();
    });
    this.#server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((ok) => this.#server.listen(0, '127.0.0.1', ok));
    this.port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  close() {
    for (const s of this.#sockets) s.destroy();
    this.#server.close();
  }
}

/** The real server in its own process (from source), so that NODE_EXTRA_CA_CERTS and its RSS are its own. */
class ServerProcess {
  proc!: ChildProcess;
  base = '';
  output = '';

  async start(config: unknown, env: Record<string, string>): Promise<this> {
    const dir = mkdtempSync(join(tmpdir(), 'kw-outbound-'));
    writeFileSync(join(dir, 'keyward.config.json'), JSON.stringify(config));
    const port = await freePort();
    this.base = `http://127.0.0.1:${port}`;
    const code = `import(${JSON.stringify(SERVER_SRC)}).then((m) => m.serverMain(['node', 'keyward-server', ...process.argv.slice(1)]))`;
    this.proc = spawn(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        'tsx',
        '-e',
        code,
        'serve',
        '--port',
        String(port),
        '--data-dir',
        join(dir, 'data'),
        '--config',
        join(dir, 'keyward.config.json'),
      ],
      { cwd: ROOT, env: { ...process.env, KEYWARD_DATABASE_URL: '', KEYWARD_REDIS_URL: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc.stdout?.on('data', (d) => {
      this.output += d;
    });
    this.proc.stderr?.on('data', (d) => {
      this.output += d;
    });
    for (let i = 0; i < 300; i++) {
      if (this.proc.exitCode !== null) throw new Error(`server exited: ${this.output}`);
      try {
        if ((await fetch(`${this.base}/health`)).ok) return this;
      } catch {}
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`server did not start: ${this.output}`);
  }

  rssMb(): number {
    const status = readFileSync(`/proc/${this.proc.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  }

  stop(): Promise<void> {
    if (this.proc.exitCode !== null) return Promise.resolve();
    return new Promise((ok) => {
      this.proc.once('exit', () => ok());
      this.proc.kill('SIGTERM');
    });
  }
}

/** GET one URL from a given loopback address; status and seconds taken (status 0: no answer in `ms`). */
async function getFrom(url: string, from: string, ms = 60_000): Promise<{ status: number; seconds: number }> {
  const { request } = await import('node:http');
  const t0 = Date.now();
  return new Promise((ok) => {
    const req = request(url, { localAddress: from, headers: { accept: 'text/html' }, timeout: ms }, (res) => {
      res.resume();
      res.on('end', () => ok({ status: res.statusCode ?? 0, seconds: (Date.now() - t0) / 1000 }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => ok({ status: 0, seconds: (Date.now() - t0) / 1000 }));
    req.end();
  });
}

describe('trust: anyone can make the server hold gigabytes through a metadata document (a capped stream, a real deadline, a throttle)', () => {
  let server: ServerProcess;
  let evil: HostileDocuments;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kw-cert-'));
    const tls = makeCertificate(dir);
    evil = await new HostileDocuments(tls).start();
    server = await new ServerProcess().start(
      { default_plan: 'free', webhooks: { allow_private_targets: true } },
      { NODE_EXTRA_CA_CERTS: tls.cert },
    );
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    evil?.close();
  });

  const consent = (doc: string, from = '127.0.0.1') =>
    getFrom(
      `${server.base}/auth/cli?${new URLSearchParams({
        client_id: `https://127.0.0.1:${evil.port}/${doc}`,
        redirect_uri: 'http://127.0.0.1:9/cb',
        response_type: 'code',
        code_challenge: 'A'.repeat(43),
        code_challenge_method: 'S256',
        state: 's',
      })}`,
      from,
    );

  it('two endless documents and a trickled one: each load ends within the 5 s limit, reads at most a few KB, RSS stays flat', async () => {
    const before = server.rssMb();
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, server.rssMb());
    }, 50);
    const answers = await Promise.all([consent('big/1.json'), consent('big/2.json'), consent('slow/1.json')]);
    clearInterval(sampler);
    for (const a of answers) {
      expect(a.status).toBe(400);
      expect(a.seconds).toBeLessThan(8);
    }
    // What the hostile server managed to write before keyward hung up: socket buffers, not gigabytes.
    expect(evil.sent.get('/big/1.json') ?? 0).toBeLessThan(16 << 20);
    expect(peak - before).toBeLessThan(100);
  }, 120_000);

  it('loads from one address that each name another document are throttled (429) before they fetch everything', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 40 && !statuses.includes(429); i++) statuses.push((await consent(`small/${i}.json`, '127.0.0.7')).status);
    expect(statuses).toContain(429);
    // Another address is not affected.
    expect((await consent('small/other.json', '127.0.0.8')).status).toBe(400);
  }, 120_000);

  it('fetches in flight are bounded: a crowd of addresses naming trickled documents does not hold a connection each', async () => {
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => consent(`slow/crowd-${i}.json`, `127.0.1.${i + 1}`)));
    expect(evil.maxOpen).toBeLessThanOrEqual(16);
    expect(answers.filter((a) => a.status === 429 || a.status === 503).length).toBeGreaterThan(0);
    for (const a of answers) expect(a.seconds).toBeLessThan(8);
  }, 120_000);
});

/** A stand-in for GitHub's `GET /meta/public_keys/secret_scanning` on a fixed port, which may be down; counts fetches. */
class KeyServer {
  fetches = 0;
  #server: Server | null = null;
  readonly key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  readonly pem = this.key.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  readonly id = createHash('sha256').update(this.pem).digest('hex');

  constructor(readonly port: number) {}
  get url() {
    return `http://127.0.0.1:${this.port}/meta/public_keys/secret_scanning`;
  }

  async up() {
    this.#server = createHttpServer((_req, res) => {
      this.fetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ public_keys: [{ key_identifier: this.id, key: this.pem, is_current: true }] }));
    });
    await new Promise<void>((ok) => this.#server?.listen(this.port, '127.0.0.1', ok));
  }

  async down() {
    const s = this.#server;
    this.#server = null;
    if (s) await new Promise<void>((ok) => s.close(() => ok()));
  }

  headers(body: string, id = this.id) {
    return {
      'github-public-key-identifier': id,
      'github-public-key-signature': sign('sha256', Buffer.from(body), { key: this.key.privateKey, dsaEncoding: 'der' }).toString('base64'),
      'content-type': 'application/json',
    };
  }
}

describe("trust: one failed fetch of GitHub's public keys breaks the partner endpoint until restart", () => {
  let h: Harness;
  let gh: KeyServer;
  const body = JSON.stringify([{ token: 'kw_test_nothing', type: 'keyward_api_key', url: 'https://github.com/o/r', source: 'content' }]);
  const report = async (headers: Record<string, string>) =>
    (await h.app.inject({ method: 'POST', url: '/api/leaks/github', payload: body, headers })).statusCode;

  beforeAll(async () => {
    gh = new KeyServer(await freePort());
    h = await startHarness({ default_plan: 'free', leaks: { github_keys_url: gh.url } });
  });
  afterAll(async () => {
    await h.close();
    await gh.down();
  });

  it('a report while the key server is down is 401; once it is back, a report after the backoff (at most a minute) is accepted', async () => {
    expect(await report(gh.headers(body))).toBe(401);
    await gh.up();
    // Within the backoff, no refetch: the key server is not hammered by every report.
    expect(await report(gh.headers(body))).toBe(401);
    expect(gh.fetches).toBe(0);
    h.clock.advance(60_000);
    expect(await report(gh.headers(body))).toBe(200);
    expect(gh.fetches).toBe(1);
  });

  it('made-up key identifiers refetch within a budget (three at once, then one a minute), and concurrent refetches are one fetch', async () => {
    // One fetch was spent above: 20 made-up identifiers at once spend the two left of the burst, and no more.
    const f0 = gh.fetches;
    const madeUp = () => gh.headers(body, randomBytes(32).toString('hex'));
    for (let i = 0; i < 20; i++) expect(await report(madeUp())).toBe(401);
    expect(gh.fetches - f0).toBe(2);
    h.clock.advance(30_000);
    for (let i = 0; i < 20; i++) expect(await report(madeUp())).toBe(401);
    expect(gh.fetches - f0).toBe(2);
    h.clock.advance(31_000);
    const f1 = gh.fetches;
    const all = await Promise.all(Array.from({ length: 10 }, () => report(madeUp())));
    expect(all.every((s) => s === 401)).toBe(true);
    expect(gh.fetches - f1).toBe(1);
    // The real key still verifies without a fetch.
    expect(await report(gh.headers(body))).toBe(200);
    expect(gh.fetches - f1).toBe(1);
  });

  it('after a second outage the keys already known keep working, and a new refetch waits for its backoff', async () => {
    await gh.down();
    h.clock.advance(2 * 60 * 60_000); // the keys are stale: a refetch is due, and fails
    expect(await report(gh.headers(body))).toBe(200);
    await gh.up();
    const f0 = gh.fetches;
    h.clock.advance(60_000);
    expect(await report(gh.headers(body))).toBe(200);
    expect(gh.fetches - f0).toBe(1);
  });
});

describe('trust: the SSRF guard lets IPv6 transition forms through', () => {
  it('webhook targets that are IPv6 forms of non-public addresses are refused (400, field url)', async () => {
    const h = await startHarness({ default_plan: 'free' });
    const a = new Agent(h.app);
    await a.signup('ssrf-v6@example.com');
    for (const url of [
      'https://[64:ff9b::a9fe:a9fe]/x', // NAT64 of 169.254.169.254
      'https://[2002:7f00:1::]/x', // 6to4 of 127.0.0.1
      'https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/x', // Teredo of 127.0.0.1
      'https://[::127.0.0.1]/x', // IPv4-compatible
      'https://[::ffff:0:7f00:1]/x', // SIIT of 127.0.0.1
      'https://[::ffff:169.254.169.254]/x', // IPv4-mapped
      'https://[fec0::1]/x', // site-local
      'https://[64:ff9b:1::a00:1]/x', // local-use NAT64
    ]) {
      const r = await a.req('POST', '/api/webhooks', { url, events: ['key.leaked'] });
      expect(r.status, url).toBe(400);
      expect(r.body.error, url).toMatchObject({ code: 'invalid_request', field: 'url' });
    }
    // A public IPv6 address and the NAT64 form of a public IPv4 address stay allowed.
    for (const url of ['https://[2606:4700:4700::1111]/x', 'https://[64:ff9b::101:101]/x']) {
      expect((await a.req('POST', '/api/webhooks', { url, events: ['key.leaked'] })).status, url).toBe(201);
    }
    await h.close();
  });
});
