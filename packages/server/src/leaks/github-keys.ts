import { createPublicKey, type KeyObject } from 'node:crypto';
import { evaluateGcra } from '@keyward/core';
import type { Logger } from 'pino';
import type { Clock } from '../ids.js';
import { fetchOutbound } from '../net/outbound.js';

/** A key list older than this is fetched again (the keys already known keep working if that fails). */
const KEYS_TTL_MS = 60 * 60_000;
/**
 * Every fetch spends from this budget, and an identifier not in the list refetches it (GitHub may have published a
 * key since) only while the budget allows: three at once, then one a minute, whatever identifiers reports make up.
 * The burst lets a key GitHub has just published be seen at once even right after a made-up identifier spent a
 * refetch; in the long run made-up identifiers cost one fetch a minute (GitHub allows 60 an hour unauthenticated).
 */
const FETCH_BUDGET = { limit: 3, periodMs: 3 * 60_000 } as const;
/** Waits after failed fetches in a row: the first retry comes soon, none waits more than a minute. */
const BACKOFF_MS = [5_000, 10_000, 20_000, 40_000, 60_000] as const;
/** GitHub's answer is a few KB; the operator's URL is trusted, its answer is still capped and timed. */
const MAX_BYTES = 256 * 1024;
const TIMEOUT_MS = 5_000;

/**
 * GitHub's published secret-scanning keys (`leaks.github_keys_url`), fetched when first needed, again after an
 * hour, after a failure with a backoff of at most a minute, and for an identifier it does not know within a budget of
 * three fetches at once, then one a minute, whatever the identifiers reports make up; simultaneous refetches are one fetch. Times are the clock's
 * (a clock that steps back makes a refetch due, never blocks one for good).
 */
export class GitHubPublicKeys {
  #keys = new Map<string, KeyObject>();
  /** When the list was last fetched, and when a fetch was last tried (clock ms). */
  #fetchedAt: number | null = null;
  #triedAt = Number.NEGATIVE_INFINITY;
  /** The fetch budget's GCRA state (theoretical arrival time, clock ms). */
  #tat = 0;
  #failures = 0;
  #fetching: Promise<void> | null = null;

  constructor(
    private readonly url: string,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** The published key with this identifier, refetching the list when the rules above say so. */
  async find(identifier: string): Promise<KeyObject | undefined> {
    if (this.#due(this.#keys.has(identifier))) await this.#refetch();
    return this.#keys.get(identifier);
  }

  #due(known: boolean): boolean {
    if (this.#fetching) return !known;
    const now = this.clock.now();
    const sinceTry = now - this.#triedAt;
    if (sinceTry < 0) return true;
    if (this.#failures > 0) return sinceTry >= BACKOFF_MS[Math.min(this.#failures, BACKOFF_MS.length) - 1]!;
    if (this.#fetchedAt === null || now - this.#fetchedAt >= KEYS_TTL_MS) return true;
    return !known && evaluateGcra({ tat: this.#tat, now, ...FETCH_BUDGET }).allowed;
  }

  #refetch(): Promise<void> {
    this.#fetching ??= this.#fetch().finally(() => {
      this.#fetching = null;
    });
    return this.#fetching;
  }

  async #fetch(): Promise<void> {
    const now = this.clock.now();
    this.#triedAt = now;
    // Spends one fetch (those due by age or backoff too); a clock that stepped back does not block refetches for good.
    const interval = FETCH_BUDGET.periodMs / FETCH_BUDGET.limit;
    this.#tat = Math.min(Math.max(this.#tat, now) + interval, now + FETCH_BUDGET.periodMs);
    try {
      const res = await fetchOutbound(this.url, {
        headers: { accept: 'application/json', 'user-agent': 'keyward-leaks/1' },
        maxBytes: MAX_BYTES,
        timeoutMs: TIMEOUT_MS,
        namedBy: 'operator',
      });
      if (res.status < 200 || res.status > 299) throw new Error(`answered ${res.status}`);
      const body = JSON.parse(res.body.toString('utf8')) as { public_keys?: { key_identifier?: unknown; key?: unknown }[] };
      if (!Array.isArray(body.public_keys)) throw new Error('the answer has no public_keys list');
      const keys = new Map<string, KeyObject>();
      for (const k of body.public_keys) {
        if (typeof k?.key_identifier !== 'string' || typeof k.key !== 'string') continue;
        try {
          keys.set(k.key_identifier, createPublicKey(k.key));
        } catch {
          this.logger.warn({ key_identifier: k.key_identifier }, 'ignored a GitHub public key that does not parse');
        }
      }
      this.#keys = keys;
      this.#fetchedAt = this.clock.now();
      this.#failures = 0;
    } catch (error) {
      this.#failures++;
      const wait = BACKOFF_MS[Math.min(this.#failures, BACKOFF_MS.length) - 1]!;
      this.logger.warn(
        { err: { message: (error as Error).message }, url: this.url, retry_in_seconds: wait / 1000 },
        'cannot fetch GitHub secret-scanning keys',
      );
    }
  }
}
