import { evaluateGcra, KeywardError, secondsUntil } from '@keyward/core';

/**
 * Slows password guessing: each e-mail address may fail to sign in `limit` times per `periodMs` (a burst, then one
 * more try per period/limit). Only failures are charged; a throttled address gets 429 before its password is even
 * checked. In process: with several instances each keeps its own count, which still bounds guessing per instance.
 */
export class LoginThrottle {
  readonly #tat = new Map<string, number>();

  constructor(
    private readonly limit = 10,
    private readonly periodMs = 15 * 60_000,
  ) {}

  check(email: string, now: number): void {
    const d = evaluateGcra({ tat: this.#tat.get(email) ?? 0, now, limit: this.limit, periodMs: this.periodMs });
    if (!d.allowed) {
      throw new KeywardError('rate_limited', 'Too many failed sign-ins for this address. Try again later.', {
        'retry-after': String(secondsUntil(now + d.retryAfterMs, now)),
      });
    }
  }

  failed(email: string, now: number): void {
    const d = evaluateGcra({ tat: this.#tat.get(email) ?? 0, now, limit: this.limit, periodMs: this.periodMs });
    if (d.allowed) this.#tat.set(email, d.tat);
    if (this.#tat.size > 100_000) for (const [k, t] of this.#tat) if (t < now) this.#tat.delete(k);
  }
}
