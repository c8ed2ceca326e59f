import { lookup as dnsLookup } from 'node:dns/promises';
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { nonPublicReason } from './addresses.js';

/**
 * Every request keyward itself sends (webhooks, Client ID Metadata Documents, GitHub's public keys) goes through
 * here, so that each one is bounded the same way:
 *  - one deadline covers the whole exchange: name resolution, connect, TLS, headers and body;
 *  - the body is read as a stream and the exchange aborted as soon as it passes its cap (a `content-length` is
 *    not trusted, a chunked body is counted as it comes);
 *  - a URL that a user or a request names is resolved once, every address it resolves to must be public (unless
 *    `webhooks.allow_private_targets`), and the connection goes to the address that was checked: a DNS answer that
 *    changes between the check and the connect (rebinding) changes nothing;
 *  - redirects are never followed (a redirect is an answer like any other);
 *  - a new connection each time (no pooled socket connected to an address checked for another request).
 *
 * Built on node:http(s), whose `lookup` option pins the connection while TLS still verifies the certificate for
 * the URL's host name (and honours NODE_EXTRA_CA_CERTS); undici's `Agent({ connect: { lookup } })` would do the same
 * but is not a dependency of this package, and Node's global fetch offers no per-request resolver.
 */

/**
 * Resolves a host name to its addresses (the system's resolver by default: /etc/hosts, then DNS); `signal` ends
 * the wait of a request whose deadline passed.
 */
export type Resolve = (host: string, signal?: AbortSignal) => Promise<{ address: string; family: number }[]>;

/**
 * `resolve` with at most `atOnce` look-ups under way; the others wait their turn in order, and one whose signal
 * aborts while it waits leaves the queue (rejecting with the signal's reason) without ever being looked up.
 */
export function oneAtATime(resolve: Resolve, atOnce: number): Resolve {
  let underWay = 0;
  const queue: (() => void)[] = [];
  return async (host, signal) => {
    if (underWay < atOnce) underWay++;
    else {
      // A finished look-up hands its place straight to the next in the queue (the count does not change).
      await new Promise<void>((go, stop) => {
        const turn = () => {
          signal?.removeEventListener('abort', leave);
          go();
        };
        const leave = () => {
          queue.splice(queue.indexOf(turn), 1);
          stop(signal?.reason);
        };
        if (signal?.aborted) return stop(signal.reason);
        queue.push(turn);
        signal?.addEventListener('abort', leave, { once: true });
      });
    }
    try {
      return await resolve(host, signal);
    } finally {
      const next = queue.shift();
      if (next) next();
      else underWay--;
    }
  };
}

/**
 * `dns.lookup` runs on libuv's thread pool (4 threads by default, shared with scrypt's password hashing and file
 * I/O) and cannot be cancelled: a name whose server never answers holds a thread until the system's resolver gives
 * up. At most two run at once for outbound requests (the pool is one per process, hence one count per process),
 * so names that users choose cannot stall sign-ins.
 */
export const systemResolve: Resolve = oneAtATime((host) => dnsLookup(host, { all: true, verbatim: true }), 2);

export type OutboundFailure = 'bad_url' | 'refused_target' | 'unresolved' | 'too_large' | 'timeout' | 'failed';

/** Why an outbound request did not get a whole answer; `message` is fit to show the user who named the URL. */
export class OutboundError extends Error {
  constructor(
    readonly reason: OutboundFailure,
    message: string,
  ) {
    super(message);
    this.name = 'OutboundError';
  }
}

/** A URL checked for sending to, and the one address its connection will use. */
export interface Target {
  url: URL;
  address: string;
  family: 4 | 6;
}

/** The checks on a user-named URL that need no DNS: an absolute http(s) URL without credentials (https unless private targets are allowed). */
function parseTarget(raw: string, allowPrivate: boolean): URL {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new OutboundError('bad_url', 'url must be an absolute URL');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new OutboundError('bad_url', 'url must be an http(s) URL');
  if (u.username || u.password) throw new OutboundError('bad_url', 'url must not carry a user name or password');
  if (!allowPrivate && u.protocol !== 'https:')
    throw new OutboundError('bad_url', 'url must use https (webhooks.allow_private_targets allows http for development)');
  return u;
}

/**
 * Checks a URL that a user or a request named and resolves it once: every address must be public unless
 * `allowPrivate`. The answer names the address to connect to.
 */
export async function checkTarget(
  raw: string,
  allowPrivate: boolean,
  resolve: Resolve = systemResolve,
  signal?: AbortSignal,
): Promise<Target> {
  const url = parseTarget(raw, allowPrivate);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: { address: string; family: number }[];
  if (isIP(host)) addresses = [{ address: host, family: isIP(host) }];
  else {
    try {
      addresses = await resolve(host, signal);
    } catch {
      addresses = [];
    }
    if (addresses.length === 0) throw new OutboundError('unresolved', `the host ${host} does not resolve`);
  }
  if (!allowPrivate) {
    for (const a of addresses) {
      const why = nonPublicReason(a.address);
      if (why)
        throw new OutboundError(
          'refused_target',
          `url resolves to ${a.address}, a private or local address (${why}; webhooks.allow_private_targets allows it for development)`,
        );
    }
  }
  const first = addresses[0] as { address: string; family: number };
  return { url, address: first.address, family: first.family === 6 ? 6 : 4 };
}

/**
 * Why a user-named URL may not be sent to, or null: what a registration checks (a delivery checks again, and
 * connects to what it checked). With `allowPrivate`, the host need not resolve yet.
 */
export async function targetProblem(raw: string, allowPrivate: boolean, resolve: Resolve = systemResolve): Promise<string | null> {
  try {
    if (allowPrivate) parseTarget(raw, true);
    else await checkTarget(raw, false, resolve);
    return null;
  } catch (error) {
    if (error instanceof OutboundError) return error.message;
    throw error;
  }
}

export interface OutboundRequest {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** The largest body read; past it the exchange is aborted (`too_large`). */
  maxBytes: number;
  /** The whole exchange, from name resolution to the body's last byte (`timeout`). */
  timeoutMs: number;
  /**
   * `user`: a user or a request named the URL (webhooks, CIMD `client_id`s): it is checked and the connection
   * pinned. `operator`: the operator's config named it (`leaks.github_keys_url`): fetched as configured.
   */
  namedBy: 'user' | 'operator';
  /** `webhooks.allow_private_targets`: a user-named URL may reach private addresses (development). */
  allowPrivate?: boolean;
  /** False: settle at the status line and drop the body (a webhook's answer). */
  readBody?: boolean;
  resolve?: Resolve;
}

export interface OutboundResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Sends one request under the rules above; throws an {@link OutboundError} when no whole answer came in time. */
export async function fetchOutbound(raw: string, request: OutboundRequest): Promise<OutboundResponse> {
  const controller = new AbortController();
  const timeout = new OutboundError('timeout', `no complete answer within ${request.timeoutMs / 1000} s`);
  const timer = setTimeout(() => controller.abort(timeout), request.timeoutMs);
  const deadline = new Promise<never>((_, reject) => controller.signal.addEventListener('abort', () => reject(timeout), { once: true }));
  deadline.catch(() => {});
  try {
    let url: URL;
    let pinned: Target | null = null;
    if (request.namedBy === 'user') {
      pinned = await Promise.race([checkTarget(raw, request.allowPrivate ?? false, request.resolve, controller.signal), deadline]);
      url = pinned.url;
    } else {
      try {
        url = new URL(raw);
      } catch {
        throw new OutboundError('bad_url', 'url must be an absolute URL');
      }
    }
    return await Promise.race([exchange(url, pinned, request, controller.signal), deadline]);
  } finally {
    clearTimeout(timer);
    controller.abort(timeout);
  }
}

function exchange(url: URL, pinned: Target | null, request: OutboundRequest, signal: AbortSignal): Promise<OutboundResponse> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
    };
    const fail = (error: OutboundError) => {
      settle(() => reject(error));
      req.destroy();
    };
    // Node asks with `all: true` when it tries address families in turn (autoSelectFamily), one address otherwise.
    const lookup: LookupFunction | undefined = pinned
      ? (_host, options, callback) => {
          const { address, family } = pinned;
          if ((options as { all?: boolean }).all)
            (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family }]);
          else callback(null, address, family);
        }
      : undefined;
    const body = request.body === undefined ? undefined : Buffer.from(request.body);
    const lib = url.protocol === 'https:' ? https : http;
    const req = lib.request(
      url,
      {
        method: request.method ?? 'GET',
        headers: { ...request.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
        agent: false,
        signal,
        ...(lookup ? { lookup } : {}),
      },
      (res) => {
        const answer = (b: Buffer) => ({ status: res.statusCode ?? 0, headers: res.headers, body: b });
        if (request.readBody === false) {
          settle(() => resolve(answer(Buffer.alloc(0))));
          res.destroy();
          req.destroy();
          return;
        }
        const tooLarge = () => new OutboundError('too_large', `the answer is larger than ${request.maxBytes} bytes`);
        if (Number(res.headers['content-length'] ?? 0) > request.maxBytes) return fail(tooLarge());
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > request.maxBytes) return fail(tooLarge());
          chunks.push(chunk);
        });
        res.on('end', () => settle(() => resolve(answer(Buffer.concat(chunks)))));
        res.on('error', (e) => fail(networkError(e, signal)));
        res.on('close', () => fail(new OutboundError('failed', 'the connection closed before the answer ended')));
      },
    );
    req.on('error', (e) => fail(networkError(e, signal)));
    req.end(body);
  });
}

function networkError(error: Error & { code?: string }, signal: AbortSignal): OutboundError {
  if (signal.aborted && signal.reason instanceof OutboundError) return signal.reason;
  if (error instanceof OutboundError) return error;
  return new OutboundError('failed', error.code ?? error.message);
}
