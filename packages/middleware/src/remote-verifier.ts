import {
  fromWire,
  type KeyVerifier,
  VerifierUnavailableError,
  type VerifyCode,
  type VerifyOutcome,
  type VerifyRequest,
} from '@keyward/core';
import { Allowances } from './allowances.js';
import { type Change, ChangeStream, reasonOf } from './change-stream.js';
import { UsageReports } from './usage-reports.js';
import { scopeOf, type Verdict, VerdictCache } from './verdict-cache.js';

export { VerifierUnavailableError };

/** Where the remote verifier says what happens to its connection with keyward (default: the console). */
export interface RemoteVerifierLogger {
  warn(line: string): void;
  info(line: string): void;
}

export interface LocalCacheOptions {
  /** Verdicts kept at most (one per key, environment, scope, client address and resource); default 10,000. */
  maxEntries?: number;
  /** How long a verdict is reused before keyward is asked again, even with no change heard; default 60 s. */
  maxAgeSeconds?: number;
}

export interface RemoteVerifierOptions {
  /** The keyward server, e.g. `https://keys.example.com`. */
  baseUrl: string;
  /** How long a key that is known to be unusable (unknown, revoked, expired) is refused without asking again. */
  negativeCacheMs?: number;
  /** Give up on the server after this long; the request then gets 503 (or a stale verdict, see `staleIfErrorSeconds`). */
  timeoutMs?: number;
  /**
   * An operator-level verifier credential (`keyward admin verifier-credential`; default: the
   * `KEYWARD_VERIFIER_CREDENTIAL` environment variable). With it the server checks the client's address and path
   * as this process saw them and answers with the key's organization and metadata, and the local cache is on;
   * without it, the server checks this process's own address and leaves those out, and every request is asked.
   */
  credential?: string;
  /**
   * The local verdict cache (on by default with a credential; `false` turns it off): a key is asked about once per
   * request tuple and then answered here, while keyward's change stream (`GET /v1/verifier/events`) is connected,
   * until a change to the key is heard, `maxAgeSeconds` pass, or the key's deadline comes. A key with a per-minute
   * limit, a monthly quota or a budget is answered here only from an allowance keyward leased this process (asked for
   * in the background), so limits stay exact; without one, its request is asked about. Requests answered here are
   * reported to keyward within `usageFlushMs`.
   */
  localCache?: false | LocalCacheOptions;
  /**
   * While keyward cannot be reached, a verdict it gave less than this long ago keeps answering as it did; any other
   * request gets 503. Default 300; 0 turns it off.
   */
  staleIfErrorSeconds?: number;
  /** How often requests answered from the local cache are reported to keyward; default 1000 ms. */
  usageFlushMs?: number;
  /** Where the start and the end of an outage are said, once each (default: the console). */
  logger?: RemoteVerifierLogger;
  /** Called when keyward stops being reachable and when it answers again. */
  onStatusChange?: (status: { reachable: boolean; reason?: string }) => void;
  fetch?: typeof fetch;
}

/** A remote verifier: a `KeyVerifier` with the state of its link to keyward and a way to stop. */
export interface RemoteVerifier extends KeyVerifier {
  /** Stops following the change stream and sends the usage still waiting. */
  close(): Promise<void>;
  /** What the local cache holds and did; for an API's own metrics and for tests. */
  readonly stats: {
    entries: number;
    hits: number;
    misses: number;
    stale: number;
    live: boolean;
    reachable: boolean;
    pendingUsage: number;
    /** Requests of limited keys this process may still answer itself, from its leases. */
    leased: number;
  };
}

const PERMANENT = new Set<VerifyCode>(['NOT_FOUND', 'REVOKED', 'EXPIRED']);
/** Refusals because a limit is spent for now. */
const SPENT = new Set<VerifyCode>(['RATE_LIMITED', 'QUOTA_EXCEEDED', 'BUDGET_EXHAUSTED']);

/** What concurrent requests share one question to keyward by: the fields its answer depends on. */
const tupleOf = (r: VerifyRequest) => `${r.key}\n${r.environment ?? ''}\n${scopeOf(r) ?? ''}\n${r.ip ?? ''}\n${r.resource ?? ''}`;
type Valid = Extract<VerifyOutcome, { valid: true }>;

/**
 * Verifies keys by calling `POST /v1/keys/verify` of a keyward server. With a verifier credential it keeps valid
 * answers locally and reuses them for the same request while keyward's change stream says nothing changed; a limited
 * key's only while this process holds an allowance of its limits that keyward leased it (`Allowances`). Everything
 * else (and everything without a credential) is asked about on every request, so the server counts it against the
 * key's limits. Refusals that cannot change soon are remembered briefly, so that a client hammering with a dead key
 * does not hammer the keyward server too.
 *
 * @example
 * ```ts
 * import { keywardFastify, remoteVerifier } from '@keyward/middleware/fastify';
 * const verifier = remoteVerifier({ baseUrl: 'https://keys.example.com', credential: process.env.KEYWARD_VERIFIER_CREDENTIAL });
 * await app.register(keywardFastify, { verifier, environment: 'live' });
 * ```
 */
export function remoteVerifier(options: RemoteVerifierOptions): RemoteVerifier {
  const endpoint = new URL('/v1/keys/verify', options.baseUrl).toString();
  const origin = new URL(options.baseUrl).origin;
  const doFetch = options.fetch ?? fetch;
  const negativeMs = options.negativeCacheMs ?? 5000;
  const credential = options.credential ?? process.env.KEYWARD_VERIFIER_CREDENTIAL;
  const logger = options.logger ?? { warn: (l: string) => console.warn(l), info: (l: string) => console.log(l) };
  const staleMs = Math.max(0, (options.staleIfErrorSeconds ?? 300) * 1000);
  const cacheOptions = options.localCache === false || !credential ? null : (options.localCache ?? {});
  const maxAgeMs = Math.max(0, (cacheOptions?.maxAgeSeconds ?? 60) * 1000);
  const refused = new Map<string, { outcome: VerifyOutcome; until: number }>();
  const stats = { hits: 0, misses: 0, stale: 0 };

  // Reachability, said once per change: the first failure opens an outage, the first answer after it ends it.
  let reachable = true;
  let downSince = 0;
  let lastProbe = 0;
  const isUp = () => {
    if (reachable) return;
    reachable = true;
    logger.info(`keyward answers again at ${origin} after ${Math.round((Date.now() - downSince) / 1000)} s`);
    options.onStatusChange?.({ reachable: true });
  };
  const isDown = (reason: string) => {
    if (!reachable) return;
    reachable = false;
    downSince = Date.now();
    logger.warn(
      `keyward cannot be reached at ${origin} (${reason}); verdicts younger than ${staleMs / 1000} s keep answering, other requests get 503`,
    );
    options.onStatusChange?.({ reachable: false, reason });
  };

  async function ask(request: VerifyRequest): Promise<VerifyOutcome> {
    let response: Response;
    try {
      response = await doFetch(endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          ...(credential ? { authorization: `Bearer ${credential}` } : {}),
        },
        body: JSON.stringify(request),
        signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
      });
    } catch (error) {
      isDown(reasonOf(error));
      throw new VerifierUnavailableError(`keyward verify failed: ${reasonOf(error)}`);
    }
    if (response.status >= 500) {
      await response.body?.cancel();
      isDown(`it answered ${response.status}`);
      throw new VerifierUnavailableError(`keyward verify answered ${response.status}`);
    }
    isUp();
    if (!response.ok) {
      await response.body?.cancel();
      throw new VerifierUnavailableError(`keyward verify answered ${response.status}`);
    }
    try {
      // Read as the contract says, field by field: an answer that breaks it never lets a request through.
      return fromWire(await response.json());
    } catch (error) {
      throw new VerifierUnavailableError(`keyward verify answered outside the contract: ${(error as Error).message}`);
    }
  }

  /** Asks keyward, remembering refusals that cannot change soon. */
  async function askRemembering(request: VerifyRequest, now: number): Promise<VerifyOutcome> {
    const outcome = await ask(request);
    if (!outcome.valid && PERMANENT.has(outcome.code) && negativeMs > 0) {
      if (refused.size >= 10_000) refused.delete(refused.keys().next().value as string);
      refused.set(request.key, { outcome, until: now + negativeMs });
    }
    return outcome;
  }

  const refusedNow = (request: VerifyRequest, now: number) => {
    const cached = refused.get(request.key);
    return cached && cached.until > now ? cached.outcome : undefined;
  };

  if (!cacheOptions || !credential) {
    return {
      verify(request) {
        const now = Date.now();
        return refusedNow(request, now) ?? askRemembering(request, now);
      },
      async close() {},
      get stats() {
        return { entries: 0, ...stats, live: false, reachable, pendingUsage: 0, leased: 0 };
      },
    };
  }

  const verdicts = new VerdictCache({ maxEntries: cacheOptions.maxEntries ?? 10_000, keepMs: Math.max(maxAgeMs, staleMs) });
  /** Requests in flight per tuple: concurrent requests with the same tuple wait for one answer. */
  const flights = new Map<string, Promise<VerifyOutcome>>();
  /** Counts every change heard: an answer asked for before a change may predate it, so it is used but not kept. */
  let changes = 0;
  let live = false;
  let refusedSaid = false;
  /** Tuples whose key has limits: asked about at once, each request on its own (no waiting for another's answer). */
  const limited = new Map<string, number>();
  const stream = new ChangeStream(new URL('/v1/verifier/events', options.baseUrl).toString(), credential, doFetch, {
    change(c: Change) {
      changes++;
      if (c.type === 'key') {
        verdicts.dropKey(c.key_id);
        allowances.dropKey(c.key_id);
      } else {
        const userId = c.type === 'creator' ? c.user_id : undefined;
        verdicts.dropOrganization(c.org_id, userId);
        allowances.dropOrganization(c.org_id, userId);
      }
    },
    reset() {
      changes++;
      verdicts.clear();
      allowances.clear();
    },
    live(value) {
      live = value;
    },
    reachable: isUp,
    unreachable: isDown,
    refused(status) {
      if (refusedSaid) return;
      refusedSaid = true;
      logger.warn(
        `keyward refused the verifier credential on its change stream (${status}); every request is asked about until it is accepted`,
      );
    },
  });
  const allowances = new Allowances(
    new URL('/v1/verifier/leases', options.baseUrl).toString(),
    new URL('/v1/verifier/leases/return', options.baseUrl).toString(),
    credential,
    doFetch,
  );
  stream.start();
  const usage = new UsageReports(
    new URL('/v1/verifier/usage', options.baseUrl).toString(),
    credential,
    doFetch,
    options.usageFlushMs ?? 1000,
    (line) => logger.warn(line),
  );

  /**
   * The request answered here from its verdict, or undefined when it cannot be: a limited key's request needs an
   * allowance. A request answered here is reported to keyward, which counts it as if it had been asked.
   */
  const local = (v: Verdict, request: VerifyRequest, now: number): Valid | undefined => {
    const cost = request.cost ?? 1;
    let outcome = v.outcome;
    if (outcome.cache?.limited) {
      const spent = allowances.spend(request.key, request.environment, cost, outcome, now);
      if (spent === null) return undefined;
      outcome = { ...outcome, ratelimit: spent.ratelimit, budget: spent.budget };
    }
    usage.add(v.requester, request.method ?? 'VERIFY', request.path ?? '', cost, now);
    return outcome;
  };

  const reusable = (o: VerifyOutcome): o is Valid => o.valid && o.cache !== undefined;

  /** The verdict kept for a request's tuple when keyward cannot answer, if it is young enough (and leased, if limited). */
  const stale = (request: VerifyRequest, now: number, error: unknown): VerifyOutcome => {
    const v: Verdict | undefined = verdicts.get(request, now);
    const answer = v && now - v.at < staleMs ? local(v, request, now) : undefined;
    if (!answer) throw error;
    stats.stale++;
    return answer;
  };

  /**
   * A limited key's request asked about on its own. keyward may refuse it because this very process was just lent
   * what was left: then it is answered from that allowance, once it has come.
   */
  async function askLimited(request: VerifyRequest, now: number): Promise<VerifyOutcome> {
    const outcome = await askRemembering(request, now);
    if (outcome.valid || !SPENT.has(outcome.code)) return outcome;
    await allowances.settled(request.key);
    const at = Date.now();
    const v = live ? verdicts.get(request, at) : undefined;
    return (v && local(v, request, at)) ?? outcome;
  }

  async function miss(tuple: string, request: VerifyRequest, now: number): Promise<VerifyOutcome> {
    const before = changes;
    const outcome = await askRemembering(request, now);
    if (reusable(outcome) && changes === before) {
      verdicts.set(request, outcome, Date.now());
      // A limited key: its next requests are answered here once keyward leases an allowance (asked for now).
      if (outcome.cache?.limited) allowances.expect(request.key, request.environment, request.cost ?? 1, outcome, Date.now());
    }
    if (outcome.valid ? outcome.cache?.limited : outcome.ratelimit) {
      if (limited.size >= 10_000) limited.delete(limited.keys().next().value as string);
      limited.set(tuple, now + maxAgeMs);
    }
    return outcome;
  }

  return {
    verify(request) {
      const now = Date.now();
      const known = refusedNow(request, now);
      if (known) return known;
      const v = verdicts.get(request, now);
      if (v !== undefined) {
        if (live && now - v.at < maxAgeMs) {
          const answer = local(v, request, now);
          if (answer) {
            stats.hits++;
            return answer;
          }
        } else if (!reachable && now - lastProbe < 1000 && now - v.at < staleMs) {
          // keyward away: no request waits for it more than once a second while a verdict can answer.
          const answer = local(v, request, now);
          if (answer) {
            stats.stale++;
            return answer;
          }
        }
      }
      const tuple = tupleOf(request);
      stats.misses++;
      if (!reachable) lastProbe = now;
      const limitedUntil = limited.get(tuple);
      if (limitedUntil !== undefined) {
        if (limitedUntil > now) return askLimited(request, now).catch((error) => stale(request, Date.now(), error));
        limited.delete(tuple);
      }
      const flight = flights.get(tuple);
      if (flight) {
        // Another request with the same tuple is asking: its answer serves this one too when it may be reused (a
        // key with limits is asked about for each request, so each one counts).
        return flight.then(
          (o) => {
            const at = Date.now();
            const kept = reusable(o) ? verdicts.get(request, at) : undefined;
            // The answer is reused only as it was kept (a change heard meanwhile means asking again).
            return (kept && local(kept, request, at)) ?? (kept ? askLimited(request, at) : askRemembering(request, at));
          },
          (error) => stale(request, Date.now(), error),
        );
      }
      const asked = miss(tuple, request, now);
      flights.set(tuple, asked);
      const done = () => flights.delete(tuple);
      asked.then(done, done);
      return asked.catch((error) => stale(request, Date.now(), error));
    },
    async close() {
      await stream.close();
      await Promise.all([usage.close(), allowances.close()]);
    },
    get stats() {
      return { entries: verdicts.size, ...stats, live, reachable, pendingUsage: usage.pending, leased: allowances.held };
    },
  };
}
