import type { Webhook, WebhookDelivery } from '../../entities.js';
import type { PageRequest } from '../../pagination.js';

/** How due webhook deliveries are shared out: caps per organization and per webhook, and whose share is busy. */
export interface DeliveryShare {
  perOrganization: number;
  perWebhook: number;
  skipOrganizations?: readonly string[];
  skipWebhooks?: readonly string[];
}

/** Webhooks: the endpoints organizations registered, the deliveries queued for them, and notices sent once. */
export interface WebhookStore {
  insertWebhook(webhook: Webhook): Promise<void>;
  /** An organization's webhooks, oldest first. */
  listWebhooks(orgId: string): Promise<Webhook[]>;
  findWebhook(orgId: string, id: string): Promise<Webhook | undefined>;
  /** Deletes a webhook and, the cascade, its deliveries, in one transaction; false when there was none. */
  deleteWebhook(orgId: string, id: string): Promise<boolean>;

  insertDeliveries(deliveries: WebhookDelivery[]): Promise<void>;
  /**
   * Pending deliveries due at `now`, shared fairly between organizations: every organization's oldest, then every
   * one's second, and so on (round-robin; oldest first within a round), at most `share.perOrganization` of one
   * organization and `share.perWebhook` of one webhook, none of the organizations and webhooks whose share is
   * busy. At most `limit` in all.
   */
  dueDeliveries(now: number, limit: number, share?: DeliveryShare): Promise<WebhookDelivery[]>;
  /**
   * Takes a due delivery for one try: moves its next attempt to `leaseUntil` if it is still `expectedNextAt`. True
   * for exactly one instance, so a try is never sent twice at once.
   */
  claimDelivery(id: string, expectedNextAt: number, leaseUntil: number): Promise<boolean>;
  /** Records a try: the attempts so far, the new status and when to try next (null: no more). */
  recordAttempt(
    id: string,
    attempts: WebhookDelivery['attempts'],
    status: WebhookDelivery['status'],
    nextAttemptAt: number | null,
  ): Promise<void>;
  /** A webhook's deliveries, newest first. */
  listDeliveries(orgId: string, webhookId: string, page: PageRequest): Promise<WebhookDelivery[]>;
  findDelivery(orgId: string, id: string): Promise<WebhookDelivery | undefined>;
  /** Makes a delivery pending again, due at `now` (send again). */
  redeliver(orgId: string, id: string, now: number): Promise<boolean>;

  /** Remembers that a notice (`key.expiring` of one key, a quota threshold of one month…) went out: true only the first time. */
  noteOnce(id: string, at: number): Promise<boolean>;
}
