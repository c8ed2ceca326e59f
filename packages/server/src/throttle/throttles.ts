import { isIP } from 'node:net';
import { ipv6Bytes, KeywardError, secondsUntil } from '@keyward/core';
import type { Logger } from 'pino';
import type { Budget, ThrottleBudgets } from '../config/config.js';
import type { ThrottleCounters } from './counters.js';

/** A 429 in the envelope with its Retry-After. */
export function tooMany(message: string, waitMs: number, now: number): KeywardError {
  return new KeywardError('rate_limited', message, { 'retry-after': String(secondsUntil(now + waitMs, now)) });
}

/**
 * The throttle key of a client address: an IPv6 address counts as its /64 (one subscriber's network, which hands
 * its hosts as many addresses as they like), an IPv4-mapped IPv6 address as its IPv4 address. Every throttle
 * buckets by this, and nothing else does (an IP allowlist still checks the whole address).
 */
export function throttleAddress(address: string): string {
  const text = address.split('%')[0]?.toLowerCase() ?? '';
  if (isIP(text) !== 6) return text;
  const b = ipv6Bytes(text);
  if (b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return b.slice(12).join('.');
  const word = (i: number) => (((b[i * 2] as number) << 8) | (b[i * 2 + 1] as number)).toString(16);
  return `${[0, 1, 2, 3].map(word).join(':')}::/64`;
}

/**
 * Every throttle against abuse, over counters in this process or shared through Redis. Throttles count before the
 * work: each attempt reserves its unit atomically before the slow part (password hash, code look-up), so parallel
 * requests cannot take more than a budget. Units given back: a successful sign-in and a right user code refund
 * their reservation, so honest people never notice; sign-ups, device codes, client registrations and leak
 * reports or checks keep theirs (each does work or stores something whatever its outcome). Sign-in attempts are
 * counted per (e-mail, address) and per address, never per e-mail alone, so someone failing on purpose from
 * elsewhere cannot lock the owner out. Addresses are bucketed by {@link throttleAddress}.
 *
 * Key guessing is checked on the hot path, so it must cost nothing there, and it refuses guesses, not keys: a key
 * found (in the cache or in storage) is never throttled; only a key that turns out unknown (or malformed) is
 * charged, and once an address has spent its budget its unknown keys answer 429, locally, for the wait the
 * counters give (one `Map` look-up, on the unknown-key path only). With Redis, the count is shared and each
 * instance blocks the address at its first unknown key past the budget.
 */
export class Throttles {
  readonly #blocked = new Map<string, number>();

  constructor(
    private readonly counters: ThrottleCounters,
    private readonly budgets: ThrottleBudgets,
    private readonly logger?: Logger,
  ) {}

  /**
   * Reserves a sign-in attempt of this e-mail from this address, before the password is checked: throws 429 (and
   * holds nothing) when the pair or the address has no budget left. A successful sign-in gives it back.
   */
  async reserveSignIn(email: string, address: string, now: number): Promise<void> {
    const taken: [string, Budget][] = [];
    for (const [bucket, budget] of this.#signInBuckets(email, address)) {
      const wait = await this.counters.charge(bucket, budget, now);
      if (wait > 0) {
        for (const [b, bb] of taken) await this.counters.refund(b, bb, now);
        throw tooMany('Too many failed sign-ins from this address. Try again later.', wait, now);
      }
      taken.push([bucket, budget]);
    }
  }

  /** A reserved sign-in succeeded: only failures stay counted. */
  async signInSucceeded(email: string, address: string, now: number): Promise<void> {
    for (const [bucket, budget] of this.#signInBuckets(email, address)) await this.counters.refund(bucket, budget, now);
  }

  /** Charges a sign-up to its address before any work (each one hashes a password, most store an account). */
  async signUp(address: string, now: number): Promise<void> {
    await this.#take(
      this.budgets.signUps,
      `signup|${throttleAddress(address)}`,
      'Too many sign-ups from this address. Try again later.',
      now,
    );
  }

  /** One leak report, or one `POST /v1/keys/check` call (up to 100 keys), from an address; 429 past the budget. */
  async leakReport(address: string, now: number): Promise<void> {
    await this.#take(
      this.budgets.leakReports,
      `leak|${throttleAddress(address)}`,
      'Too many keys reported or checked from this address. Try again later.',
      now,
    );
  }

  /** Charges a client registration to its address (each one is stored); throws 429 past the budget. */
  async clientRegistration(address: string, now: number): Promise<void> {
    await this.#take(
      this.budgets.clientRegistrations,
      `register|${throttleAddress(address)}`,
      'Too many clients registered from this address. Try again later.',
      now,
    );
  }

  /** Charges a metadata document fetch to the address whose sign-in needs it, before the fetch; 429 past the budget. */
  async metadataDocument(address: string, now: number): Promise<void> {
    await this.#take(
      this.budgets.metadataDocuments,
      `cimd|${throttleAddress(address)}`,
      'Too many client metadata documents fetched for sign-ins from this address. Try again later.',
      now,
    );
  }

  /** Charges a webhook test event to its organization (each one is a delivery to send); throws 429 past the budget. */
  async webhookTest(orgId: string, now: number): Promise<void> {
    await this.#take(
      this.budgets.webhookTests,
      `webhook-test|${orgId}`,
      'Too many webhook test events from this organization. Try again later.',
      now,
    );
  }

  /** Charges a device code to its address (each one is stored); throws 429 past the budget. */
  async deviceCode(address: string, now: number): Promise<void> {
    await this.#take(
      this.budgets.deviceCodes,
      `device|${throttleAddress(address)}`,
      'Too many device codes requested from this address. Try again later.',
      now,
    );
  }

  /** Reserves a user-code check for this address before the look-up; throws 429 past the budget. A right code gives it back. */
  async reserveUserCode(address: string, now: number): Promise<void> {
    await this.#take(
      this.budgets.userCodes,
      `usercode|${throttleAddress(address)}`,
      'Too many wrong codes from this address. Try again later.',
      now,
    );
  }

  async userCodeRight(address: string, now: number): Promise<void> {
    if (this.budgets.userCodes) await this.counters.refund(`usercode|${throttleAddress(address)}`, this.budgets.userCodes, now);
  }

  /**
   * An unknown (or malformed) key from this address: milliseconds its unknown keys are refused for (the 429's
   * wait), or 0 when this one is within the budget. A blocked address is answered locally, without a charge; a
   * key that exists never comes here.
   */
  unknownKey(address: string, now: number): number | Promise<number> {
    const budget = this.budgets.unknownKeys;
    if (!budget || !address) return 0;
    const who = throttleAddress(address);
    const until = this.#blocked.get(who);
    if (until !== undefined) {
      if (until > now) return until - now;
      this.#blocked.delete(who);
    }
    const wait = this.counters.charge(`keys|${who}`, budget, now);
    return wait instanceof Promise ? wait.then((w) => this.#block(who, w, now)) : this.#block(who, wait, now);
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
    const who = throttleAddress(address);
    if (pair) buckets.push([`signin|${who}|${email}`, pair]);
    if (perAddress) buckets.push([`signin|${who}`, perAddress]);
    return buckets;
  }

  /** Takes one unit of `budget` from `bucket` before the work it guards; throws 429 (`message`) past the budget. */
  async #take(budget: Budget | null, bucket: string, message: string, now: number): Promise<void> {
    if (!budget) return;
    const wait = await this.counters.charge(bucket, budget, now);
    if (wait > 0) throw tooMany(message, wait, now);
  }
}
