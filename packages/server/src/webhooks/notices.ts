import { monthOf } from '@keyward/core';
import type { Logger } from 'pino';
import type { KeyForVerify } from '../entities.js';
import type { Clock } from '../ids.js';
import type { KeyStore } from '../storage/store.js';
import type { WebhookService } from './webhook-service.js';

const DAY_MS = 86_400_000;
/** `key.expiring` goes out this long before a key expires. */
export const EXPIRING_NOTICE_MS = 7 * DAY_MS;
/** At most one `rate_limit.exceeded` per key per window. */
const RATE_LIMIT_WINDOW_MS = 10 * 60_000;
/** Shares of a month's quota that send `quota.threshold`. */
const THRESHOLDS = [0.8, 1] as const;
const SWEEP_MS = 10 * 60_000;

/**
 * Webhook events that no one action causes: a key about to expire (7 days before), a month's quota at 80 % and
 * 100 %, a key over its per-minute limit (at most once per 10 minutes). Each goes out once ever for what it is about:
 * storage remembers that it went (`noteOnce`), so several instances and restarts send it once; a set here spares the
 * hot path a storage round trip once a notice is known to be sent. Never awaited by a request.
 */
export class Notices {
  #sent = new Set<string>();
  #sweeper: NodeJS.Timeout | null = null;

  constructor(
    private readonly webhooks: WebhookService,
    private readonly store: KeyStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** A request refused by the key's per-minute limit. */
  rateLimited(key: KeyForVerify, limit: number, now: number): void {
    const window = Math.floor(now / RATE_LIMIT_WINDOW_MS);
    this.#once(`rate_limit:${key.id}:${window}`, key.orgId, 'rate_limit.exceeded', {
      key_id: key.id,
      name: key.name,
      environment: key.environment,
      requests_per_minute: limit,
    });
  }

  /** A request counted against a lineage's monthly quota: `used` of `limit` so far this month. */
  quotaUsed(key: KeyForVerify, used: number, limit: number, now: number): void {
    for (const share of THRESHOLDS) {
      if (used < Math.ceil(limit * share)) continue;
      const month = monthOf(now);
      this.#once(`quota:${key.lineageId}:${month}:${share}`, key.orgId, 'quota.threshold', {
        key_id: key.id,
        lineage_id: key.lineageId,
        name: key.name,
        month,
        threshold_percent: Math.round(share * 100),
        used,
        limit,
      });
    }
  }

  /** Sends `key.expiring` for every key that expires within 7 days; runs every 10 minutes. */
  async sweepExpiring(): Promise<void> {
    const now = this.clock.now();
    for (const key of await this.store.keysExpiringBetween(now, now + EXPIRING_NOTICE_MS)) {
      await this.webhooks.emitOnce(`expiring:${key.id}:${key.expiresAt}`, key.orgId, 'key.expiring', {
        key_id: key.id,
        name: key.name,
        environment: key.environment,
        expires_at: new Date(key.expiresAt as number).toISOString(),
      });
    }
  }

  start(): void {
    const sweep = () =>
      void this.sweepExpiring().catch((e: Error) => this.logger.warn({ err: { message: e.message } }, 'expiry notices failed'));
    this.#sweeper = setInterval(sweep, SWEEP_MS);
    this.#sweeper.unref();
    sweep();
  }

  stop(): void {
    if (this.#sweeper) clearInterval(this.#sweeper);
  }

  #once(dedupe: string, orgId: string, type: 'rate_limit.exceeded' | 'quota.threshold', data: Record<string, unknown>): void {
    if (this.#sent.has(dedupe)) return;
    if (this.#sent.size > 100_000) this.#sent.clear();
    this.#sent.add(dedupe);
    this.webhooks.emitOnce(dedupe, orgId, type, data).catch((e: Error) => {
      this.#sent.delete(dedupe);
      this.logger.warn({ err: { message: e.message }, notice: type }, 'a webhook notice could not be queued');
    });
  }
}
