import { evaluateGcra, KeywardError, secondsUntil } from '@keyward/core';

/** A failure budget: `limit` failures at once, then one more every `periodMs / limit`. */
interface Budget {
  limit: number;
  periodMs: number;
}

/** Failures of one e-mail from one address: slows guessing a password without letting anyone lock a victim out. */
const PER_PAIR: Budget = { limit: 10, periodMs: 15 * 60_000 };
/** Failures from one address, whatever the e-mail: slows spraying many accounts from one client. */
const PER_ADDRESS: Budget = { limit: 30, periodMs: 15 * 60_000 };

/**
 * Slows password guessing. Failures are counted per (e-mail, client address) and per client address, never per
 * e-mail alone: someone failing on purpose from elsewhere cannot lock the owner out, because a correct password
 * from another address is never refused. Only failures are charged; a throttled client gets 429 before its
 * password is even checked. In process: with several instances each keeps its own count, which still bounds
 * guessing per instance.
 */
export class LoginThrottle {
  readonly #tat = new Map<string, number>();

  check(email: string, address: string, now: number): void {
    for (const [bucket, budget] of this.#buckets(email, address)) {
      const d = evaluateGcra({ tat: this.#tat.get(bucket) ?? 0, now, ...budget });
      if (!d.allowed) {
        throw new KeywardError('rate_limited', 'Too many failed sign-ins from this address. Try again later.', {
          'retry-after': String(secondsUntil(now + d.retryAfterMs, now)),
        });
      }
    }
  }

  failed(email: string, address: string, now: number): void {
    for (const [bucket, budget] of this.#buckets(email, address)) {
      const d = evaluateGcra({ tat: this.#tat.get(bucket) ?? 0, now, ...budget });
      if (d.allowed) this.#tat.set(bucket, d.tat);
    }
    if (this.#tat.size > 100_000) for (const [k, t] of this.#tat) if (t < now) this.#tat.delete(k);
  }

  #buckets(email: string, address: string): [string, Budget][] {
    return [
      [`pair|${address}|${email}`, PER_PAIR],
      [`address|${address}`, PER_ADDRESS],
    ];
  }
}
