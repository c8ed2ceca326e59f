import type { BudgetInfo, RateLimitInfo, VerifyOutcome } from '@keyward/core';

type Valid = Extract<VerifyOutcome, { valid: true }>;

/** How far ahead a lease is asked for: about this long of the key's requests at the rate this process sees. */
const LEAD_MS = 1_000;
/** A lease is spent only until this long before keyward's end of it (timed from when it was asked for). */
const MARGIN_MS = 100;
/** Unspent parts are given back at most this long after their lease ended (keyward takes them for 5 minutes). */
const RETURN_FOR_MS = 4 * 60_000;
/** Keys followed at most; past this, the one followed longest goes (its leftovers given back). */
const MAX_KEYS = 10_000;

/** What keyward lent of a key's limits: requests (and credits) this process may answer itself until `until`. */
interface Grant {
  lease: string;
  requests: number;
  /** Credits left; null when the key has no budget (cost is not counted). */
  credits: number | null;
  until: number;
  at: number;
  /**
   * Per per-minute limit, when the slot of the lease's last request ends and how far apart slots end before it: a
   * request whose slot has ended may no longer be answered (it is given back unspent instead).
   */
  rates: { end: number; interval: number }[];
  ratelimit: RateLimitInfo | null;
  budget: BudgetInfo | null;
}

/** Requests of a grant that may still be answered: the unspent ones whose slot has not ended. */
export function usable(g: Pick<Grant, 'requests' | 'rates'>, now: number): number {
  let n = g.requests;
  for (const r of g.rates) n = Math.min(n, Math.max(0, Math.ceil((r.end - now) / r.interval)));
  return n;
}

interface Allowance {
  environment: string | undefined;
  /** The key and the keys it was derived from: a change to any of them ends the allowance. */
  ids: string[];
  orgId: string | undefined;
  ownerId: string | undefined;
  grants: Grant[];
  /** The lease being asked for, if any. */
  asking: Promise<void> | null;
  /** No lease is asked for before this (keyward granted none, or could not be asked). */
  quietUntil: number;
  /** Requests seen since `since` and the credits of the last one: what the next lease is sized by. */
  seen: number;
  since: number;
  lastCost: number;
  /** The last request of the key seen here: a key not seen for a minute, holding nothing, is no longer followed. */
  lastSeen: number;
  /** The size of the last lease: a new one is asked for when less than half of it is left. */
  lastGrant: number;
}

interface LeaseAnswer {
  lease: string | null;
  requests: number;
  credits: number | null;
  expires_in_ms: number;
  refused?: string;
  rates?: { until_ms: number; interval_ms: number }[];
  ratelimit: RateLimitInfo | null;
  budget: BudgetInfo | null;
}

/** What a request answered from an allowance tells the client about its limits. */
export interface Spent {
  ratelimit: RateLimitInfo | null;
  budget: BudgetInfo | null;
}

/**
 * Allowances of limited keys (a per-minute limit, a monthly quota or a budget), leased from keyward
 * (`POST /v1/verifier/leases`) so that their requests are answered in this process while every limit stays exact:
 * keyward counts a lease as that many requests at once, and takes back what is not spent
 * (`POST /v1/verifier/leases/return`). A lease is asked for in the background before the last runs out, sized by
 * the key's rate here (about two seconds of its requests; keyward caps it at a tenth of the key's minute, a
 * hundredth of its month and a twentieth of its budget). Without an allowance a request is asked about on its own.
 */
export class Allowances {
  readonly #byRaw = new Map<string, Allowance>();
  #returning: { lease: string; requests: number; credits: number; until: number }[] = [];
  readonly #timer: ReturnType<typeof setInterval>;
  #sending: Promise<void> | null = null;
  /** Leases being asked for: closing waits for them, so that what they bring is given back too. */
  readonly #asking = new Set<Promise<void>>();
  /** Closed: nothing more is asked for, and what comes is given back. */
  #closed = false;

  constructor(
    private readonly leaseUrl: string,
    private readonly returnUrl: string,
    private readonly credential: string,
    private readonly doFetch: typeof fetch,
  ) {
    this.#timer = setInterval(() => void this.#tick(Date.now()), 1000);
    this.#timer.unref?.();
  }

  /** Requests this process may still answer itself, over every key. */
  get held(): number {
    let n = 0;
    const now = Date.now();
    for (const a of this.#byRaw.values()) for (const g of a.grants) n += usable(g, now);
    return n;
  }

  /**
   * Spends one request (and its credits) of the key's allowance; null when there is none left, and a lease is then
   * asked for (not awaited). `outcome` is the verdict the request was answered with.
   */
  spend(raw: string, environment: string | undefined, cost: number, outcome: Valid, now: number): Spent | null {
    if (this.#closed) return null;
    const a = this.#saw(raw, environment, cost, outcome, now);
    let spent: Grant | null = null;
    let left = 0;
    for (let i = 0; i < a.grants.length; i++) {
      const g = a.grants[i] as Grant;
      if (g.until <= now) {
        this.#retire(a, i--);
        continue;
      }
      const n = usable(g, now);
      if (spent === null && n >= 1 && (g.credits === null || g.credits >= cost)) {
        g.requests--;
        if (g.credits !== null) g.credits -= cost;
        spent = g;
        left += n - 1;
      } else left += n;
    }
    if (left * 2 < a.lastGrant || left === 0) this.#ask(raw, a, now);
    if (spent === null) return null;
    // What keyward had left when it lent the newest lease (older ones were already out then), plus what this process
    // still holds.
    const newest = a.grants[a.grants.length - 1] as Grant;
    const elapsed = Math.floor((now - newest.at) / 1000);
    return {
      ratelimit: newest.ratelimit && {
        ...newest.ratelimit,
        remaining: newest.ratelimit.remaining + left,
        reset: Math.max(0, newest.ratelimit.reset - elapsed),
      },
      budget: newest.budget && { ...newest.budget, remaining: newest.budget.remaining + creditsLeft(a) },
    };
  }

  /** A request of a limited key was asked about: an allowance is asked for now (not awaited) when none is held. */
  expect(raw: string, environment: string | undefined, cost: number, outcome: Valid, now: number): void {
    if (this.#closed) return;
    const a = this.#saw(raw, environment, cost, outcome, now);
    if (!a.grants.some((g) => g.until > now && usable(g, now) > 0)) this.#ask(raw, a, now);
  }

  /** Resolves when the lease being asked for the key, if any, has come (or not). */
  async settled(raw: string): Promise<void> {
    await this.#byRaw.get(raw)?.asking;
  }

  /** Ends the allowances of a key and of the keys derived from it, giving back what is left. */
  dropKey(keyId: string): void {
    for (const [raw, a] of this.#byRaw) if (a.ids.includes(keyId)) this.#drop(raw, a);
    void this.#send();
  }

  /** Ends the allowances of an organization's keys (those made by `userId` only, when given). */
  dropOrganization(orgId: string, userId?: string): void {
    for (const [raw, a] of this.#byRaw) {
      if (a.orgId === undefined || (a.orgId === orgId && (userId === undefined || a.ownerId === userId))) this.#drop(raw, a);
    }
    void this.#send();
  }

  clear(): void {
    for (const [raw, a] of this.#byRaw) this.#drop(raw, a);
    void this.#send();
  }

  /** Gives back everything held and stops. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.clear();
    await Promise.all([...this.#asking]);
    // Everything held, in as many batches as it takes, until keyward takes them or cannot be reached.
    for (;;) {
      await this.#sending;
      const before = this.#returning.length;
      await this.#send();
      if (this.#returning.length === 0 || this.#returning.length === before) break;
    }
  }

  /** A request of the key, of `cost`: counted in the rate its next lease is sized by. */
  #saw(raw: string, environment: string | undefined, cost: number, outcome: Valid, now: number): Allowance {
    const a = this.#byRaw.get(raw) ?? this.#follow(raw, environment, outcome, now);
    a.seen++;
    a.lastCost = cost;
    a.lastSeen = now;
    return a;
  }

  #follow(raw: string, environment: string | undefined, outcome: Valid, now: number): Allowance {
    if (this.#byRaw.size >= MAX_KEYS) {
      const [oldest, a] = this.#byRaw.entries().next().value as [string, Allowance];
      this.#drop(oldest, a);
      void this.#send();
    }
    const a: Allowance = {
      environment,
      ids: [outcome.key.id, ...(outcome.cache?.ancestorIds ?? [])],
      orgId: outcome.key.organizationId,
      ownerId: outcome.key.ownerId,
      grants: [],
      asking: null,
      quietUntil: 0,
      seen: 0,
      since: now,
      lastCost: 1,
      lastSeen: now,
      lastGrant: 0,
    };
    this.#byRaw.set(raw, a);
    return a;
  }

  #ask(raw: string, a: Allowance, now: number): void {
    if (a.asking || now < a.quietUntil) return;

    // Requests per ms since the last ask (over at least 100 ms, so that a first request does not look like a flood).
    const rate = a.seen / Math.max(100, now - a.since);
    const requests = Math.min(1_000_000, Math.max(1, Math.ceil(rate * LEAD_MS)));
    a.seen = 0;
    a.since = now;
    const body = JSON.stringify({
      key: raw,
      ...(a.environment !== undefined ? { environment: a.environment } : {}),
      requests,
      credits: Math.min(1_000_000_000, requests * a.lastCost),
    });
    // keyward's clock read the lease's times somewhere between sending and receiving: from the sending they are
    // never later than keyward meant.
    const sent = Date.now();
    const asked = this.doFetch(this.leaseUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.credential}` },
      body,
      signal: AbortSignal.timeout(5000),
    })
      .then(async (response) => {
        if (!response.ok) {
          await response.body?.cancel();
          throw new Error(`answered ${response.status}`);
        }
        return (await response.json()) as LeaseAnswer;
      })
      .then(
        (answer) => {
          a.asking = null;
          const received = Date.now();
          if (typeof answer.lease !== 'string' || !(answer.requests > 0)) {
            // Nothing to lend now (the limit is spent, the key changed): each request is asked about meanwhile. A
            // limit too small to share, or none, stays so until the key changes.
            const lasting = answer.refused === 'too_small' || answer.refused === 'not_limited';
            a.quietUntil = received + (lasting ? 60_000 : 1000);
            return;
          }
          const grant: Grant = {
            lease: answer.lease,
            requests: answer.requests,
            credits: answer.credits,
            until: sent + answer.expires_in_ms - MARGIN_MS,
            at: received,
            rates: (answer.rates ?? []).map((r) => ({ end: sent + r.until_ms, interval: r.interval_ms })),
            ratelimit: answer.ratelimit,
            budget: answer.budget,
          };
          // Dropped meanwhile (a change heard, closing): what was just lent goes back at once.
          if (this.#byRaw.get(raw) !== a) {
            this.#giveBack(grant, received);
            void this.#send();
          } else {
            a.grants.push(grant);
            a.lastGrant = answer.requests;
          }
        },
        () => {
          a.asking = null;
          a.quietUntil = Date.now() + 1000;
        },
      )
      .finally(() => this.#asking.delete(asked));
    this.#asking.add(asked);
    a.asking = asked;
  }

  #retire(a: Allowance, i: number): void {
    const [g] = a.grants.splice(i, 1);
    if (g) this.#giveBack(g, g.until);
  }

  #drop(raw: string, a: Allowance): void {
    this.#byRaw.delete(raw);
    for (const g of a.grants) this.#giveBack(g, Date.now());
    a.grants = [];
  }

  #giveBack(g: Grant, at: number): void {
    if (g.requests > 0 || (g.credits ?? 0) > 0) {
      this.#returning.push({ lease: g.lease, requests: g.requests, credits: g.credits ?? 0, until: at + RETURN_FOR_MS });
    }
  }

  /** Every second: leases that ended are given back, and keys no longer used are no longer followed. */
  #tick(now: number): Promise<void> {
    for (const [raw, a] of this.#byRaw) {
      for (let i = 0; i < a.grants.length; i++) if ((a.grants[i] as Grant).until <= now) this.#retire(a, i--);
      if (a.grants.length === 0 && !a.asking && now - a.lastSeen > 60_000) this.#byRaw.delete(raw);
    }
    return this.#send();
  }

  /** Sends the unspent parts of leases that ended; kept for later while keyward cannot be reached. */
  #send(): Promise<void> {
    const now = Date.now();
    this.#returning = this.#returning.filter((r) => r.until > now);
    if (this.#returning.length === 0 || this.#sending) return this.#sending ?? Promise.resolve();
    const batch = this.#returning.slice(0, 1000);
    this.#sending = this.doFetch(this.returnUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.credential}` },
      body: JSON.stringify({ leases: batch.map(({ lease, requests, credits }) => ({ lease, requests, credits })) }),
      signal: AbortSignal.timeout(5000),
    })
      .then(async (response) => {
        await response.body?.cancel();
        // Taken, or refused for good (4xx): either way not sent again. Kept only when keyward could not answer.
        if (response.status < 500) {
          const sent = new Set(batch);
          this.#returning = this.#returning.filter((r) => !sent.has(r));
        }
      })
      .catch(() => {})
      .finally(() => {
        this.#sending = null;
      });
    return this.#sending;
  }
}

function creditsLeft(a: Allowance): number {
  let n = 0;
  for (const g of a.grants) n += g.credits ?? 0;
  return n;
}
