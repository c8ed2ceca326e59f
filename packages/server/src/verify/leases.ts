import { randomUUID } from 'node:crypto';
import type { Clock } from '../ids.js';
import type { Limiter, LimitResult, Meter, MeterRef } from '../limits/limiter.js';
import type { Notices } from '../webhooks/notices.js';
import { type Headline, headlineOf, type Verifier } from './verifier.js';

/**
 * How long a verifier may spend a lease. Its requests stay counted in every per-minute limit at least that long, so
 * that one answered at the end adds to no burst: an idle key lends this much of its minute less (2 s of 60, 3 %).
 */
export const LEASE_MS = 2_000;
/** How long after its end a lease's unused part may still be given back (the limiter remembers returns longer). */
const RETURN_WINDOW_MS = 5 * 60_000;
/** At most this share of a key's per-minute limit, and of its monthly quota and budget, goes out in one lease. */
const RATE_SHARE = 20;
const QUOTA_SHARE = 100;
const BUDGET_SHARE = 20;
const MAX_REQUESTS = 10_000;
/** A lease shorter than this (the month ends sooner) is not worth lending. */
const MIN_LEASE_MS = 250;

export interface LeaseAsk {
  key: string;
  environment?: string;
  /** Requests the verifier expects to answer soon (it measures its own rate). */
  requests: number;
  /** Credits it expects them to spend; ignored for a key without a budget. */
  credits: number;
}

/** Seals leases so that only keyward can open them (the server's `Sealer`, under a purpose of its own). */
export interface LeaseSealer {
  seal(plain: string): string;
  /** Throws when the text was not sealed by this sealer, or was altered. */
  open(sealed: string): string;
}

export interface LeaseGrant {
  /** Sealed: what was taken from which meters; given back with `giveBack`. Null when nothing was granted. */
  lease: string | null;
  keyId: string | null;
  requests: number;
  /** Credits granted; null when neither the key nor an ancestor has a budget (cost is then not counted). */
  credits: number | null;
  expiresInMs: number;
  /**
   * Per per-minute limit the lease counts in: when the slot of its last request ends (ms from now) and how far apart
   * its slots end before that. A leased request is answered only while its slot lasts, so requests answered late
   * never add to a burst: a rate never admits more than it would have.
   */
  rates: { untilMs: number; intervalMs: number }[];
  /**
   * Why nothing was granted: no working key, a key without limits (nothing to lease), a limit too small to lend a
   * share of (under 20 a minute, 100 a month, or a budget under 20 requests' cost), or its limits spent for now.
   */
  refused?: 'no_key' | 'not_limited' | 'too_small' | 'limited';
  headline: Headline;
}

interface Sealed {
  /** lease id */
  i: string;
  n: number;
  c: number;
  /** when it ends */
  e: number;
  m: MeterRef[];
  /** per rate meter (in the order of `m`), when the slot of its last request ends */
  s: number[];
  /** the limiter that lent it */
  l: string;
}

export interface Returned {
  lease: string;
  requests: number;
  credits: number;
}

/**
 * Allowances of a key's limits lent to remote verifiers, so that they answer requests of limited keys in their own
 * process and every limit stays exact: a lease takes its requests (and credits) from the limiter at once, as that
 * many requests would, and what is not spent is given back. A verifier without an allowance asks about each request.
 *
 * Leases are sealed with the server secret rather than stored: any instance can take one back, and a verifier can
 * neither forge one nor give back more than it took (the limiter takes each lease back once).
 */
export class Leases {
  constructor(private readonly deps: { verifier: Verifier; limiter: Limiter; sealer: LeaseSealer; clock: Clock; notices?: Notices }) {}

  async take(ask: LeaseAsk): Promise<LeaseGrant> {
    const none = (refused: LeaseGrant['refused'], keyId: string | null = null): LeaseGrant => ({
      lease: null,
      keyId,
      requests: 0,
      credits: null,
      expiresInMs: 0,
      rates: [],
      refused,
      headline: { ratelimit: null, budget: null },
    });
    const entry = await this.deps.verifier.entryOf(ask.key);
    const now = this.deps.clock.now();
    if (!entry || entry.checked === null || now >= entry.state.deadline) return none('no_key');
    if (ask.environment !== undefined && ask.environment !== entry.key.environment) return none('no_key');
    if (entry.meters.length === 0) return none('not_limited', entry.key.id);
    const meters = this.deps.verifier.metersOf(entry, now);
    const budgeted = meters.some((m) => m.budget !== null);
    let requests = Math.min(Math.max(1, Math.floor(ask.requests)), capOf(meters));
    // A budget lends whole requests' credits at the cost the verifier expects per request, or nothing.
    const each = budgeted ? Math.ceil(Math.max(0, ask.credits) / Math.max(1, ask.requests)) : 0;
    if (each > 0) requests = Math.min(requests, Math.floor(creditCapOf(meters) / each));
    if (requests < 1) return none('too_small', entry.key.id);
    // A lease ends by the month's end: its requests count in the month that lent them.
    let expiresInMs = LEASE_MS;
    for (const m of meters) if (m.quota) expiresInMs = Math.min(expiresInMs, m.quota.resetAt - now);
    if (expiresInMs < MIN_LEASE_MS) return none('limited', entry.key.id);
    let credits = requests * each;
    let limits = await this.deps.limiter.check({ now, cost: credits, count: requests, holdMs: LEASE_MS, meters });
    if (!limits.allowed) {
      // Less than asked may still be there: take what is, once (a race with other takers is then refused).
      const fits = fitOf(meters, limits, requests, credits);
      requests = each > 0 ? Math.min(fits.requests, Math.floor(fits.credits / each)) : fits.requests;
      if (requests < 1) return { ...none('limited', entry.key.id), headline: headlineOf(limits) };
      credits = requests * each;
      limits = await this.deps.limiter.check({ now, cost: credits, count: requests, holdMs: LEASE_MS, meters });
      if (!limits.allowed) return { ...none('limited', entry.key.id), headline: headlineOf(limits) };
    }
    const notices = this.deps.notices;
    if (notices) {
      for (let i = 0; i < meters.length; i++) {
        const quota = limits.meters[i]?.quota;
        if (quota && entry.meters[i]?.keyId === entry.key.id) notices.quotaUsed(entry.key, quota.limit - quota.remaining, quota.limit, now);
      }
    }
    const rates: LeaseGrant['rates'] = [];
    for (let i = 0; i < meters.length; i++) {
      const rate = (meters[i] as Meter).rate;
      const decision = limits.meters[i]?.rate;
      if (rate && decision) rates.push({ untilMs: decision.resetMs, intervalMs: rate.periodMs / rate.limit });
    }
    const sealed: Sealed = {
      i: randomUUID(),
      n: requests,
      c: credits,
      e: now + expiresInMs,
      m: meters.map(refOf),
      s: rates.map((r) => now + r.untilMs),
      l: this.deps.limiter.id,
    };
    return {
      lease: this.deps.sealer.seal(JSON.stringify(sealed)),
      keyId: entry.key.id,
      requests,
      credits: budgeted ? credits : null,
      expiresInMs,
      rates,
      headline: headlineOf(limits),
    };
  }

  /** Gives back what leases did not spend; a lease that is not ours, too old or already given back is ignored. */
  async giveBack(items: readonly Returned[]): Promise<{ returned: number; ignored: number }> {
    const now = this.deps.clock.now();
    let returned = 0;
    let ignored = 0;
    for (const item of items) {
      const sealed = this.#open(item.lease);
      if (!sealed || now > sealed.e + RETURN_WINDOW_MS || sealed.l !== this.deps.limiter.id) {
        ignored++;
        continue;
      }
      const count = Math.min(sealed.n, Math.max(0, Math.floor(item.requests)));
      const cost = Math.min(sealed.c, Math.max(0, Math.floor(item.credits)));
      // A rate takes back only requests whose slots are still ahead: the unspent ones are the lease's last slots.
      let rateCount = count;
      let r = 0;
      for (const m of sealed.m) {
        if (!m.rate) continue;
        const left = Math.ceil(((sealed.s[r++] ?? now) - now) / (m.rate.periodMs / m.rate.limit));
        rateCount = Math.min(rateCount, Math.max(0, left));
      }
      if (await this.deps.limiter.giveBack({ id: sealed.i, now, count, rateCount, cost, meters: sealed.m })) returned++;
      else ignored++;
    }
    return { returned, ignored };
  }

  #open(text: string): Sealed | null {
    try {
      return JSON.parse(this.deps.sealer.open(text)) as Sealed;
    } catch {
      return null;
    }
  }
}

const refOf = (m: Meter): MeterRef => ({ id: m.id, rate: m.rate, quotaMonth: m.quota?.month ?? null, budget: m.budget !== null });

/** The most requests one lease may take: a twentieth of the tightest minute, a hundredth of the tightest month. */
function capOf(meters: Meter[]): number {
  let cap = MAX_REQUESTS;
  for (const m of meters) {
    if (m.rate) cap = Math.min(cap, Math.floor(m.rate.limit / RATE_SHARE));
    if (m.quota) cap = Math.min(cap, Math.floor(m.quota.limit / QUOTA_SHARE));
  }
  return cap;
}

function creditCapOf(meters: Meter[]): number {
  let cap = Number.MAX_SAFE_INTEGER;
  for (const m of meters) if (m.budget) cap = Math.min(cap, Math.floor(m.budget.limit / BUDGET_SHARE));
  return cap;
}

/** What of a refused take is there: per rate, what its time leaves in the burst; per quota and budget, what is left. */
function fitOf(meters: Meter[], limits: LimitResult, requests: number, credits: number): { requests: number; credits: number } {
  let fits = requests;
  let creditsFit = credits;
  for (let i = 0; i < meters.length; i++) {
    const meter = meters[i] as Meter;
    const r = limits.meters[i];
    if (meter.rate && r?.rate && !r.rate.allowed) {
      const interval = meter.rate.periodMs / meter.rate.limit;
      fits = Math.min(fits, Math.floor((meter.rate.periodMs - r.rate.resetMs) / interval));
    }
    if (r?.quota && !r.quota.allowed) fits = Math.min(fits, r.quota.remaining);
    if (r?.budget && !r.budget.allowed) creditsFit = Math.min(creditsFit, r.budget.remaining);
  }
  return { requests: Math.max(0, fits), credits: Math.max(0, creditsFit) };
}
