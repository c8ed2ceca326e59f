import { KeywardError, secondsUntil } from '@keyward/core';
import type { Logger } from 'pino';
import type { Budget, ThrottleCounters } from './counters.js';

/**
 * The budgets of the abuse throttles, each per client address (sign-in also per e-mail and address). Null
 * switches one off. The defaults are generous for people and agents, and cut guessing to a crawl.
 */
export interface ThrottleBudgets {
  /** Failed sign-ins of one e-mail from one address: slows guessing a password without a lockout. */
  signInPerPair: Budget | null;
  /** Failed sign-ins from one address, whatever the e-mail: slows spraying many accounts. */
  signInPerAddress: Budget | null;
  /** Unknown or malformed keys from one address (whoami, verify, management API, in-process middleware). */
  unknownKeys: Budget | null;
  /** Device codes created from one address (`POST /api/device/code`). */
  deviceCodes: Budget | null;
  /** Wrong user codes typed on `/device` from one address. */
  userCodes: Budget | null;
  /** Keys reported as leaked on `POST /v1/keys/report-leak` from one address (and keys checked by `scan --check`). */
  leakReports: Budget | null;
  /** OAuth clients registered (RFC 7591) from one address. */
  clientRegistrations: Budget | null;
}

const MINUTE = 60_000;
export const DEFAULT_THROTTLES: ThrottleBudgets = {
  signInPerPair: { limit: 10, periodMs: 15 * MINUTE },
  signInPerAddress: { limit: 30, periodMs: 15 * MINUTE },
  unknownKeys: { limit: 100, periodMs: MINUTE },
  deviceCodes: { limit: 30, periodMs: 60 * MINUTE },
  userCodes: { limit: 20, periodMs: 15 * MINUTE },
  leakReports: { limit: 60, periodMs: MINUTE },
  clientRegistrations: { limit: 20, periodMs: 60 * MINUTE },
};

/** A 429 in the envelope with its Retry-After. */
export function tooMany(message: string, waitMs: number, now: number): KeywardError {
  return new KeywardError('rate_limited', message, { 'retry-after': String(secondsUntil(now + waitMs, now)) });
}

/**
 * Every throttle against abuse, over counters in this process or shared through Redis. Only failures are charged
 * (except device codes, each of which is stored): honest clients never notice. Sign-in failures are counted per
 * (e-mail, address) and per address, never per e-mail alone, so someone failing on purpose from elsewhere cannot
 * lock the owner out.
 *
 * Key guessing is checked on the hot path, so it must cost nothing there: an address that spends its budget of
 * unknown keys is blocked locally for the wait the counters give (every key check from it answers 429 until
 * then); the check is one `Map` look-up, skipped while the map is empty. With Redis, the count is shared and each
 * instance blocks the address at its first unknown key past the budget.
 */
export class Throttles {
  readonly #blocked = new Map<string, number>();

  constructor(
    private readonly counters: ThrottleCounters,
    private readonly budgets: ThrottleBudgets,
    private readonly logger?: Logger,
  ) {}

  /** Throws 429 when this e-mail from this address, or this address, has failed to sign in too often. */
  async checkSignIn(email: string, address: string, now: number): Promise<void> {
    for (const [bucket, budget] of this.#signInBuckets(email, address)) {
      const wait = await this.counters.wait(bucket, budget, now);
      if (wait > 0) throw tooMany('Too many failed sign-ins from this address. Try again later.', wait, now);
    }
  }

  async signInFailed(email: string, address: string, now: number): Promise<void> {
    for (const [bucket, budget] of this.#signInBuckets(email, address)) await this.counters.charge(bucket, budget, now);
  }

  /** Charges a device code to its address; throws 429 past the budget. */
  /** A leak report (or a batch of keys to check, counted one each) from an address; 429 past the budget. */
  async leakReport(address: string, count: number, now: number): Promise<void> {
    const budget = this.budgets.leakReports;
    if (!budget) return;
    for (let i = 0; i < count; i++) {
      const wait = await this.counters.charge(`leak|${address}`, budget, now);
      if (wait > 0) throw tooMany('Too many keys reported or checked from this address. Try again later.', wait, now);
    }
  }

  /** Charges a client registration to its address (each one is stored); throws 429 past the budget. */
  async clientRegistration(address: string, now: number): Promise<void> {
    const budget = this.budgets.clientRegistrations;
    if (!budget) return;
    const wait = await this.counters.charge(`register|${address}`, budget, now);
    if (wait > 0) throw tooMany('Too many clients registered from this address. Try again later.', wait, now);
  }

  async deviceCode(address: string, now: number): Promise<void> {
    const budget = this.budgets.deviceCodes;
    if (!budget) return;
    const wait = await this.counters.charge(`device|${address}`, budget, now);
    if (wait > 0) throw tooMany('Too many device codes requested from this address. Try again later.', wait, now);
  }

  /** Throws 429 while this address has typed too many wrong user codes. */
  async checkUserCode(address: string, now: number): Promise<void> {
    const budget = this.budgets.userCodes;
    if (!budget) return;
    const wait = await this.counters.wait(`usercode|${address}`, budget, now);
    if (wait > 0) throw tooMany('Too many wrong codes from this address. Try again later.', wait, now);
  }

  async userCodeFailed(address: string, now: number): Promise<void> {
    if (this.budgets.userCodes) await this.counters.charge(`usercode|${address}`, this.budgets.userCodes, now);
  }

  /** Milliseconds this address's key checks are still refused for: 0 unless it sent too many unknown keys. */
  keyGuessingBlocked(address: string, now: number): number {
    if (this.#blocked.size === 0) return 0;
    const until = this.#blocked.get(address);
    if (until === undefined) return 0;
    if (until > now) return until - now;
    this.#blocked.delete(address);
    return 0;
  }

  /** Counts an unknown key from this address; past the budget, blocks the address and answers for how long. */
  unknownKey(address: string, now: number): number | Promise<number> {
    const budget = this.budgets.unknownKeys;
    if (!budget || !address) return 0;
    const wait = this.counters.charge(`keys|${address}`, budget, now);
    return wait instanceof Promise ? wait.then((w) => this.#block(address, w, now)) : this.#block(address, wait, now);
  }

  #block(address: string, wait: number, now: number): number {
    if (wait <= 0) return 0;
    if (!this.#blocked.has(address)) {
      this.logger?.warn(
        { address, seconds: Math.ceil(wait / 1000) },
        'too many unknown API keys from one address: its key checks answer 429 for a while',
      );
    }
    if (this.#blocked.size > 100_000) for (const [a, until] of this.#blocked) if (until <= now) this.#blocked.delete(a);
    this.#blocked.set(address, now + wait);
    return wait;
  }

  #signInBuckets(email: string, address: string): [string, Budget][] {
    const { signInPerPair: pair, signInPerAddress: perAddress } = this.budgets;
    const buckets: [string, Budget][] = [];
    if (pair) buckets.push([`signin|${address}|${email}`, pair]);
    if (perAddress) buckets.push([`signin|${address}`, perAddress]);
    return buckets;
  }
}
