import { createHash, verify } from 'node:crypto';
import { KeywardError, keyState, type ServedEnvironments } from '@keyward/core';
import type { Logger } from 'pino';
import type { KeywardConfig } from '../config/config.js';
import type { KeyForVerify } from '../entities.js';
import type { Clock } from '../ids.js';
import type { KeyService } from '../keys/key-service.js';
import type { Throttles } from '../throttle/throttles.js';
import type { KeyLookup } from '../verify/key-lookup.js';
import { GitHubPublicKeys } from './github-keys.js';

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
 * What happens when a key is found in public. GitHub's secret-scanning partner program posts what it found, signed
 * with one of its published ECDSA P-256 keys (`Github-Public-Key-Identifier`, `Github-Public-Key-Signature`: base64
 * DER over the raw body, SHA-256); anyone may report a key with `POST /v1/keys/report-leak`. A finding that is a
 * live key of this server is recorded on it, audited, sent as `key.leaked`, and the key revoked everywhere at once
 * (`leaks.on_report`: `revoke`, or `notify` to leave it working).
 */
export class LeakService {
  readonly #github: GitHubPublicKeys;

  constructor(
    private readonly keys: KeyService,
    private readonly lookup: KeyLookup,
    private readonly environments: ServedEnvironments,
    config: KeywardConfig,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly throttles: Throttles,
  ) {
    this.#github = new GitHubPublicKeys(config.leaks.githubKeysUrl, clock, logger);
  }

  /** Checks a GitHub report's signature (401 when it is missing, wrong, or by a key GitHub does not publish). */
  async verifyGitHub(body: Buffer, identifier: string | undefined, signature: string | undefined): Promise<void> {
    if (!identifier || !signature) throw unsigned('The report is not signed (Github-Public-Key-Identifier and -Signature).');
    const key = await this.#github.find(identifier);
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
   * One call (up to 100 keys, the route's limit and scan's batch) is one unit of `address`'s leak-report budget,
   * charged before any look-up: a full batch from a fresh address is always answered.
   */
  async check(tokens: string[], address: string): Promise<KeyStatus[]> {
    const now = this.clock.now();
    await this.throttles.leakReport(address, now);
    return Promise.all(tokens.map(async (token) => (await this.#lookup(token, now)).status));
  }

  /**
   * A key someone found and reports (`report-leak`): one unit of `address`'s leak-report budget, charged at once
   * (429 past it); the key itself is handled after the answer, so that neither its words nor its timing say
   * whether it was live.
   */
  async report(finding: LeakFinding, address: string): Promise<void> {
    await this.throttles.leakReport(address, this.clock.now());
    setImmediate(() => {
      this.handle([finding], 'report').catch((error: Error) =>
        this.logger.warn({ err: { message: error.message } }, 'a leak report failed'),
      );
    });
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
    // A key that may work again (its creator back, its environment served again) is live: revoking it is the safe side.
    const state = keyState(key, now, this.environments);
    return { status: !state.ended ? 'live' : state.status === 'revoked' ? 'revoked' : 'expired', key };
  }
}

const unsigned = (message: string) => new KeywardError('unauthorized', message);
