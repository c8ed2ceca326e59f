import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';
import { KeywardError } from '@keyward/core';
import type { Logger } from 'pino';
import type { KeywardConfig } from '../config/config.js';
import type { Clock } from '../ids.js';
import type { KeyLookup } from '../keys/key-lookup.js';
import { type KeyService, lifecycleOf } from '../keys/key-service.js';
import type { KeyForVerify } from '../storage/store.js';

/** What `keyward scan --check` is told of a found key. */
export type KeyStatus = 'live' | 'revoked' | 'expired' | 'unknown';

/** One secret GitHub found: what its secret-scanning partner program posts, an array of these. */
export interface LeakFinding {
  token: string;
  type: string;
  url?: string | null;
  source?: string | null;
}

/** GitHub's feedback for one finding: whether it was one of ours, alive when found. */
export interface LeakFeedback {
  token_hash: string;
  token_type: string;
  label: 'true_positive' | 'false_positive';
}

/**
 * A public-keys answer older than this is fetched again. An unknown identifier refetches once (GitHub may have
 * published a key since), and fetches are capped per minute, so made-up identifiers cannot make us hammer GitHub.
 */
const KEYS_TTL_MS = 60 * 60_000;
const FETCHES_PER_MINUTE = 30;

/**
 * What happens when a key is found in public. GitHub's secret-scanning partner program posts what it found, signed
 * with one of its published ECDSA P-256 keys (`Github-Public-Key-Identifier`, `Github-Public-Key-Signature`: base64
 * DER over the raw body, SHA-256); anyone may report a key with `POST /v1/keys/report-leak`. A finding that is a
 * live key of this server is recorded on it, audited, sent as `key.leaked`, and the key revoked everywhere at once
 * (`leaks.on_report`: `revoke`, or `notify` to leave it working).
 */
export class LeakService {
  #keys = new Map<string, KeyObject>();
  /** When the keys were last fetched (monotonic ms; the cache follows real time, not the clock keyward decides by). */
  #fetchedAt = Number.NEGATIVE_INFINITY;
  #recentFetches: number[] = [];
  /** Identifiers a refetch was already made for, so that each unknown one costs at most one fetch. */
  #refetchedFor = new Set<string>();
  #fetching: Promise<void> | null = null;

  constructor(
    private readonly keys: KeyService,
    private readonly lookup: KeyLookup,
    private readonly config: KeywardConfig,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Checks a GitHub report's signature (401 when it is missing, wrong, or by a key GitHub does not publish). */
  async verifyGitHub(body: Buffer, identifier: string | undefined, signature: string | undefined): Promise<void> {
    if (!identifier || !signature) throw unsigned('The report is not signed (Github-Public-Key-Identifier and -Signature).');
    let key = this.#keys.get(identifier);
    const stale = performance.now() - this.#fetchedAt > KEYS_TTL_MS;
    if (stale || (!key && !this.#refetchedFor.has(identifier))) {
      if (!key) {
        if (this.#refetchedFor.size >= 1000) this.#refetchedFor.clear();
        this.#refetchedFor.add(identifier);
      }
      await this.#fetchKeys();
      key = this.#keys.get(identifier);
    }
    if (!key) throw unsigned('The report is signed with a key GitHub does not publish.');
    let valid = false;
    try {
      valid = verify('sha256', body, { key, dsaEncoding: 'der' }, Buffer.from(signature, 'base64'));
    } catch {
      valid = false;
    }
    if (!valid) throw unsigned('The report signature does not match its body.');
  }

  /** Handles the findings of one report; the answer is GitHub's feedback format, one entry per finding. */
  async handle(findings: LeakFinding[], reporter: string): Promise<LeakFeedback[]> {
    const feedback: LeakFeedback[] = [];
    for (const f of findings) {
      const live = await this.#handleOne(f, reporter);
      feedback.push({
        token_hash: createHash('sha256').update(f.token).digest('hex'),
        token_type: f.type,
        label: live ? 'true_positive' : 'false_positive',
      });
    }
    return feedback;
  }

  /**
   * What became of keys someone found (`keyward scan --check`): `live`, `revoked`, `expired`, or `unknown` (not a
   * key of this server, or mistyped). Only this server can tell: it alone holds the secret its key hashes need.
   */
  async check(tokens: string[]): Promise<KeyStatus[]> {
    const now = this.clock.now();
    return Promise.all(tokens.map(async (token) => (await this.#lookup(token, now)).status));
  }

  /** Whether a finding is a key of this server that was working when it was found (it is then revoked or flagged). */
  async #handleOne(f: LeakFinding, reporter: string): Promise<boolean> {
    const now = this.clock.now();
    const { status, key } = await this.#lookup(f.token, now);
    if (status !== 'live' || !key) return false;
    await this.keys.reportLeak(key.orgId, key.id, { url: f.url ?? null, source: f.source ?? null, reporter, at: now });
    return true;
  }

  /** A found token: which key of this server it is, and where that key is in its life. */
  async #lookup(token: string, now: number): Promise<{ status: KeyStatus; key?: KeyForVerify }> {
    // A token whose checksum fails is noise (or a typo): no storage look-up. An imported key of another format
    // is found as the verify path finds it.
    const found = await this.lookup.find(token);
    const key = found.ok ? found.key : undefined;
    if (!key) return { status: 'unknown' };
    const life = lifecycleOf(key, now);
    return { status: life === 'active' ? 'live' : life, key };
  }

  /** GitHub's current public keys: one fetch at a time, at most {@link FETCHES_PER_MINUTE}. */
  async #fetchKeys(): Promise<void> {
    const now = performance.now();
    this.#recentFetches = this.#recentFetches.filter((t) => now - t < 60_000);
    if (this.#recentFetches.length >= FETCHES_PER_MINUTE && !this.#fetching) return;
    this.#fetching ??= (async () => {
      this.#recentFetches.push(now);
      try {
        const res = await fetch(this.config.leaks.githubKeysUrl, {
          headers: { accept: 'application/json', 'user-agent': 'keyward-leaks/1' },
          signal: AbortSignal.timeout(5000),
        });
        if (!res.ok) throw new Error(`answered ${res.status}`);
        const body = (await res.json()) as { public_keys?: { key_identifier?: unknown; key?: unknown }[] };
        const keys = new Map<string, KeyObject>();
        for (const k of body.public_keys ?? []) {
          if (typeof k.key_identifier !== 'string' || typeof k.key !== 'string') continue;
          try {
            keys.set(k.key_identifier, createPublicKey(k.key));
          } catch {
            this.logger.warn({ key_identifier: k.key_identifier }, 'ignored a GitHub public key that does not parse');
          }
        }
        this.#keys = keys;
        this.#fetchedAt = performance.now();
      } catch (error) {
        this.logger.warn(
          { err: { message: (error as Error).message }, url: this.config.leaks.githubKeysUrl },
          'cannot fetch GitHub secret-scanning keys',
        );
        this.#fetchedAt = this.clock.now();
      } finally {
        this.#fetching = null;
      }
    })();
    await this.#fetching;
  }
}

const unsigned = (message: string) => new KeywardError('unauthorized', message);
