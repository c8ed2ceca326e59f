import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkTarget, fetchOutbound, OutboundError, oneAtATime, type Resolve } from './outbound.js';

/** A plain http server on an address of 127.0.0.0/8 whose answers a test picks by path. */
async function serve(host: string, port: number, handler: Parameters<typeof createServer>[1]): Promise<Server> {
  const server = createServer(handler);
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, ok);
  });
  return server;
}

const failure = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (error) {
    return error as OutboundError;
  }
  throw new Error('expected the request to fail');
};

describe('trust: outbound fetches read a capped stream within a real deadline', () => {
  let server: Server;
  let base = '';
  const open = new Set<NodeJS.Timeout>();

  beforeAll(async () => {
    server = await serve('127.0.0.1', 0, (req, res) => {
      if (req.url === '/endless') {
        // A chunked body that never ends, as fast as the socket takes it.
        res.writeHead(200, { 'content-type': 'application/json' });
        const mb = Buffer.alloc(1 << 20, 0x20);
        let stop = false;
        res.on('close', () => {
          stop = true;
        });
        const pump = () => {
          while (!stop) if (!res.write(mb)) return void res.once('drain', pump);
        };
        pump();
      } else if (req.url === '/lying') {
        // Says 10 bytes, sends more (the client must count, not trust the header).
        res.writeHead(200, { 'content-length': '10' });
        res.socket?.write(Buffer.alloc(1 << 20, 0x20));
      } else if (req.url === '/trickle') {
        res.writeHead(200);
        const t = setInterval(() => res.write(' '), 100);
        open.add(t);
        res.on('close', () => clearInterval(t));
      } else if (req.url === '/slow-headers') {
        const t = setTimeout(() => res.end('late'), 10_000);
        open.add(t);
      } else if (req.url === '/redirect') {
        res.writeHead(302, { location: '/small' }).end();
      } else {
        res.end('{"ok":true}');
      }
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    for (const t of open) clearTimeout(t);
    server.closeAllConnections();
    server.close();
  });

  it('an endless chunked body is cut at the cap, at once, and memory does not balloon', async () => {
    const rss = process.memoryUsage().rss;
    const t0 = Date.now();
    const errors = await Promise.all(
      Array.from({ length: 4 }, () =>
        failure(fetchOutbound(`${base}/endless`, { maxBytes: 5 * 1024, timeoutMs: 5000, namedBy: 'operator' })),
      ),
    );
    for (const e of errors) expect(e).toMatchObject({ name: 'OutboundError', reason: 'too_large' });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect((process.memoryUsage().rss - rss) / 1048576).toBeLessThan(100);
  });

  it('a body longer than its content-length says is not trusted', async () => {
    const r = await fetchOutbound(`${base}/lying`, { maxBytes: 5 * 1024, timeoutMs: 2000, namedBy: 'operator' }).catch((e) => e);
    // Node's parser reads exactly the declared 10 bytes; the rest is never buffered as body.
    if (r instanceof Error) expect(r).toBeInstanceOf(OutboundError);
    else expect(r.body.length).toBeLessThanOrEqual(10);
  });

  it('a trickled body and late headers end at the deadline, which covers the whole exchange', async () => {
    for (const path of ['/trickle', '/slow-headers']) {
      const t0 = Date.now();
      const e = await failure(fetchOutbound(`${base}${path}`, { maxBytes: 5 * 1024, timeoutMs: 700, namedBy: 'operator' }));
      expect(e, path).toMatchObject({ reason: 'timeout' });
      expect(Date.now() - t0, path).toBeLessThan(1500);
    }
  });

  it('a whole small answer is read; redirects are answers, never followed; a webhook may drop the body', async () => {
    const ok = await fetchOutbound(`${base}/small`, { maxBytes: 5 * 1024, timeoutMs: 2000, namedBy: 'operator' });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body.toString())).toEqual({ ok: true });
    expect((await fetchOutbound(`${base}/redirect`, { maxBytes: 1024, timeoutMs: 2000, namedBy: 'operator' })).status).toBe(302);
    const dropped = await fetchOutbound(`${base}/endless`, {
      maxBytes: 0,
      timeoutMs: 2000,
      namedBy: 'user',
      allowPrivate: true,
      readBody: false,
    });
    expect(dropped.status).toBe(200);
  });

  it('a user-named URL is refused before any connection when it is not public (unless private targets are allowed)', async () => {
    expect(await failure(fetchOutbound(`${base}/small`, { maxBytes: 1024, timeoutMs: 2000, namedBy: 'user' }))).toMatchObject({
      reason: 'bad_url',
    });
    const https = base.replace('http:', 'https:');
    expect(await failure(fetchOutbound(`${https}/small`, { maxBytes: 1024, timeoutMs: 2000, namedBy: 'user' }))).toMatchObject({
      reason: 'refused_target',
      message: expect.stringMatching(/127\.0\.0\.1, a private or local address/),
    });
    for (const host of ['[64:ff9b::7f00:1]', '[::ffff:0:7f00:1]', '[2002:7f00:1::]', '[fec0::1]']) {
      expect(await failure(checkTarget(`https://${host}/x`, false)), host).toMatchObject({ reason: 'refused_target' });
    }
  });
});

/**
 * A DNS server on 127.0.0.1 that answers A queries with one address the first time and another afterwards: the
 * rebinding attack, for real, over UDP.
 */
class RebindingDns {
  queries = 0;
  port = 0;
  readonly #socket: UdpSocket = createSocket('udp4');

  constructor(answers: [string, string]) {
    this.#socket.on('message', (q, from) => {
      this.queries++;
      const address = this.queries === 1 ? answers[0] : answers[1];
      let end = 12;
      while ((q[end] as number) !== 0) end += (q[end] as number) + 1;
      const question = q.subarray(12, end + 5);
      const type = q.readUInt16BE(end + 1);
      const header = Buffer.from([q[0] as number, q[1] as number, 0x81, 0x80, 0, 1, 0, type === 1 ? 1 : 0, 0, 0, 0, 0]);
      const answer =
        type === 1
          ? Buffer.concat([Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]), Buffer.from(address.split('.').map(Number))])
          : Buffer.alloc(0);
      this.#socket.send(Buffer.concat([header, question, answer]), from.port, from.address);
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((ok) => this.#socket.bind(0, '127.0.0.1', ok));
    this.port = this.#socket.address().port;
    return this;
  }

  /** A resolver that asks this server only (A records). */
  resolver(): Resolve {
    const r = new Resolver({ timeout: 1000, tries: 1 });
    r.setServers([`127.0.0.1:${this.port}`]);
    return async (host) => (await r.resolve4(host)).map((address) => ({ address, family: 4 }));
  }

  close() {
    this.#socket.close();
  }
}

describe('trust: the SSRF guard resolves the name twice (DNS rebinding)', () => {
  it('the name is resolved once, and the connection goes to the address that was checked', async () => {
    const first = await serve('127.0.0.1', 0, (_req, res) => res.end('checked'));
    const port = (first.address() as AddressInfo).port;
    const second = await serve('127.0.0.2', port, (_req, res) => res.end('rebound'));
    const dns = await new RebindingDns(['127.0.0.1', '127.0.0.2']).start();
    try {
      const resolve = dns.resolver();
      for (let i = 0; i < 3; i++) {
        const r = await fetchOutbound(`http://rebind.test:${port}/`, {
          maxBytes: 100,
          timeoutMs: 3000,
          namedBy: 'user',
          allowPrivate: true,
          resolve,
        });
        expect(r.body.toString()).toBe(i === 0 ? 'checked' : 'rebound');
      }
      // One query per request: the check's answer is the connection's address.
      expect(dns.queries).toBe(3);
    } finally {
      dns.close();
      first.close();
      second.close();
    }
  });

  it('a name that resolves to a private address is refused without a connection', async () => {
    const dns = await new RebindingDns(['127.0.0.1', '127.0.0.1']).start();
    try {
      const e = await failure(
        fetchOutbound('https://rebind.test/x', { maxBytes: 100, timeoutMs: 3000, namedBy: 'user', resolve: dns.resolver() }),
      );
      expect(e).toMatchObject({ reason: 'refused_target' });
      expect(dns.queries).toBe(1);
    } finally {
      dns.close();
    }
  });
});

describe('review: outbound name look-ups can hold every thread of the pool (a name server that never answers)', () => {
  it('at most two look-ups run at once; the rest wait in order, and one whose deadline passes leaves the queue unasked', async () => {
    let underWay = 0;
    let most = 0;
    const asked: string[] = [];
    // A resolver as slow as a name server that answers late: the system's look-up would hold a pool thread as long.
    const slow: Resolve = async (host) => {
      asked.push(host);
      most = Math.max(most, ++underWay);
      await new Promise((r) => setTimeout(r, 100));
      underWay--;
      return [{ address: '127.0.0.1', family: 4 }];
    };
    const resolve = oneAtATime(slow, 2);
    const gone = new AbortController();
    const late = resolve('late.test', gone.signal);
    const all = Promise.all(['a.test', 'b.test', 'c.test', 'd.test'].map((h) => resolve(h)));
    const waiting = resolve('given-up.test', AbortSignal.timeout(20)).then(
      () => 'looked up',
      () => 'left the queue',
    );
    gone.abort(new Error('deadline'));
    await expect(late).resolves.toHaveLength(1); // it was under way already: aborting does not cancel a look-up
    expect(await waiting).toBe('left the queue');
    await all;
    expect(most).toBe(2);
    expect(asked).toEqual(['late.test', 'a.test', 'b.test', 'c.test', 'd.test']);
  });
});
