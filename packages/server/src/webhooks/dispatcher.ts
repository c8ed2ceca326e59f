import { AsyncResource } from 'node:async_hooks';
import type { Logger } from 'pino';
import { Webhook as Signer } from 'standardwebhooks';
import type { KeywardConfig } from '../config/config.js';
import type { DeliveryAttempt, WebhookDelivery } from '../entities.js';
import type { Clock } from '../ids.js';
import { fetchOutbound, OutboundError } from '../net/outbound.js';
import type { WebhookStore } from '../storage/store.js';
import type { WebhookService } from './webhook-service.js';

/** How often the store is asked for due deliveries (events queued here, and each finished try, ask at once). */
const TICK_MS = 1000;
/**
 * Tries under way at once in this process: in all, per organization and per webhook. A receiver that never
 * answers holds its try for the whole delivery timeout, so these caps are what keep one organization's slow
 * receivers from using up every slot: the others' deliveries always find one free.
 */
export const DELIVERY_SLOTS = { total: 64, perOrganization: 8, perWebhook: 2 } as const;

/**
 * Sends queued webhook deliveries, signed as Standard Webhooks says (`webhook-id`, `webhook-timestamp`,
 * `webhook-signature`), and retries the ones not answered 2xx on the configured schedule. Every instance runs one;
 * a try is claimed in storage first, so two instances never send the same try. Deliveries live in storage, so a
 * restart (or a crash) only delays them: a claim whose instance died is due again once its lease runs out.
 */
export class WebhookDispatcher {
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #again = false;
  /** Tries under way by delivery (never two at once of one, even if a test clock jumps past a lease), and how many of them each organization and each webhook has. */
  readonly #tries = new Map<string, Promise<void>>();
  readonly #perOrg = new Map<string, number>();
  readonly #perHook = new Map<string, number>();

  constructor(
    private readonly store: WebhookStore,
    private readonly webhooks: WebhookService,
    private readonly config: KeywardConfig,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /**
   * `kick` as bound where the dispatcher starts: events are queued inside the transaction of what caused them, and
   * a pass started from there would otherwise run in that transaction's context, on its connection, after it ended.
   */
  #kickOutside: () => void = () => this.#kick();

  start(): void {
    this.#kickOutside = AsyncResource.bind(() => this.#kick());
    this.#timer = setInterval(() => this.kick(), TICK_MS);
    this.#timer.unref();
    this.webhooks.onQueued = () => this.kick();
    this.kick();
  }

  /** Looks for due deliveries now (after an event was queued), or right after the pass under way. */
  kick(): void {
    this.#kickOutside();
  }

  #kick(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#pass()
      .catch((error: Error) => this.logger.warn({ err: { message: error.message } }, 'webhook deliveries could not be read; retrying'))
      .finally(() => {
        this.#running = null;
        if (this.#again) {
          this.#again = false;
          this.#kick();
        }
      });
  }

  /** Stops looking; waits for the tries under way (each is bounded by the delivery timeout). */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#again = false;
    await this.#running;
    await Promise.all(this.#tries.values());
  }

  /**
   * Fills the free slots with due deliveries, shared between organizations round-robin (storage orders them so),
   * skipping organizations and webhooks whose share is busy. Each free slot goes to the organization with the
   * fewest tries under way, so that several organizations holding most slots with silent receivers cannot take
   * every slot that frees up from one that has none. Each try runs on its own; a finished one frees its slot and
   * asks again, so one slow receiver never holds up a batch.
   */
  async #pass(): Promise<void> {
    if (this.#tries.size >= DELIVERY_SLOTS.total) return;
    const busy = (counts: Map<string, number>, cap: number) => [...counts].filter(([, n]) => n >= cap).map(([id]) => id);
    const due = await this.store.dueDeliveries(this.clock.now(), DELIVERY_SLOTS.total, {
      perOrganization: DELIVERY_SLOTS.perOrganization,
      perWebhook: DELIVERY_SLOTS.perWebhook,
      skipOrganizations: busy(this.#perOrg, DELIVERY_SLOTS.perOrganization),
      skipWebhooks: busy(this.#perHook, DELIVERY_SLOTS.perWebhook),
    });
    const eligible = (d: WebhookDelivery) =>
      !this.#tries.has(d.id) &&
      (this.#perOrg.get(d.orgId) ?? 0) < DELIVERY_SLOTS.perOrganization &&
      (this.#perHook.get(d.webhookId) ?? 0) < DELIVERY_SLOTS.perWebhook;
    const queue = [...due];
    let started = 0;
    while (this.#tries.size < DELIVERY_SLOTS.total) {
      // The first (in storage's round-robin order) of the organization with the fewest tries under way.
      let pick = -1;
      for (let i = 0; i < queue.length; i++) {
        const d = queue[i] as WebhookDelivery;
        if (!eligible(d)) continue;
        if (pick < 0 || (this.#perOrg.get(d.orgId) ?? 0) < (this.#perOrg.get((queue[pick] as WebhookDelivery).orgId) ?? 0)) pick = i;
      }
      if (pick < 0) break;
      const [delivery] = queue.splice(pick, 1) as [WebhookDelivery];
      const now = this.clock.now();
      // The lease outlasts one try; if this instance dies mid-try, the delivery is due again after it.
      const lease = now + this.config.webhooks.timeoutMs + 30_000;
      if (!(await this.store.claimDelivery(delivery.id, delivery.nextAttemptAt ?? now, lease))) continue;
      this.#start(delivery);
      started++;
    }
    // A full answer may have left more due; slots freed by finished tries ask again by themselves.
    if (started > 0 && due.length === DELIVERY_SLOTS.total) this.#again = true;
  }

  /** Runs one claimed try in its slot. */
  #start(delivery: WebhookDelivery): void {
    const add = (counts: Map<string, number>, id: string, n: number) => {
      const next = (counts.get(id) ?? 0) + n;
      if (next > 0) counts.set(id, next);
      else counts.delete(id);
    };
    add(this.#perOrg, delivery.orgId, 1);
    add(this.#perHook, delivery.webhookId, 1);
    const run: Promise<void> = this.#tryOnce(delivery)
      .catch((error: Error) =>
        this.logger.warn({ err: { message: error.message }, delivery: delivery.id }, 'webhook try could not be recorded'),
      )
      .finally(() => {
        this.#tries.delete(delivery.id);
        add(this.#perOrg, delivery.orgId, -1);
        add(this.#perHook, delivery.webhookId, -1);
        if (this.#timer) this.kick();
      });
    this.#tries.set(delivery.id, run);
  }

  /** One try of a claimed delivery, and its outcome recorded. */
  async #tryOnce(delivery: WebhookDelivery): Promise<void> {
    const webhook = await this.store.findWebhook(delivery.orgId, delivery.webhookId);
    if (!webhook) return;
    const attempt = await this.#send(webhook.url, this.webhooks.secretOf(webhook), delivery);
    const attempts = [...delivery.attempts, attempt].slice(-50);
    const ok = attempt.status !== null && attempt.status >= 200 && attempt.status < 300;
    const schedule = this.config.webhooks.retryScheduleSeconds;
    // Failed tries in a row pick the wait; past the schedule's end the delivery has failed ("send again" tries once more).
    const failedInARow = countFailuresInARow(attempts);
    const wait = schedule[failedInARow - 1];
    const next = ok || wait === undefined ? null : this.clock.now() + wait * 1000;
    await this.store.recordAttempt(delivery.id, attempts, ok ? 'delivered' : next === null ? 'failed' : 'pending', next);
    if (!ok) {
      this.logger.info(
        { delivery: delivery.id, webhook: webhook.id, status: attempt.status, error: attempt.error, next_attempt_at: next },
        next === null ? 'webhook delivery failed for good' : 'webhook delivery failed; will retry',
      );
    }
  }

  async #send(url: string, secret: string, delivery: WebhookDelivery): Promise<DeliveryAttempt> {
    const started = this.clock.now();
    const at = new Date(started);
    const done = (status: number | null, error: string | null): DeliveryAttempt => ({
      at: started,
      status,
      error,
      ms: this.clock.now() - started,
    });
    try {
      // The target is checked again (DNS answers change) and the connection goes to the address checked.
      const res = await fetchOutbound(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'keyward-webhooks/1',
          'webhook-id': delivery.id,
          'webhook-timestamp': String(Math.floor(started / 1000)),
          'webhook-signature': new Signer(secret).sign(delivery.id, at, delivery.payload),
        },
        body: delivery.payload,
        // Only the status counts: the body is never read. A redirect is not followed (it would send the event
        // where the organization did not register it to go); it is an answer that is not 2xx.
        readBody: false,
        maxBytes: 0,
        timeoutMs: this.config.webhooks.timeoutMs,
        namedBy: 'user',
        allowPrivate: this.config.webhooks.allowPrivateTargets,
      });
      return done(res.status, res.status >= 200 && res.status < 300 ? null : `answered ${res.status}`);
    } catch (error) {
      if (!(error instanceof OutboundError)) throw error;
      return done(null, error.reason === 'timeout' ? 'no answer in time' : error.message);
    }
  }
}

/** Failed tries at the end of the list, counting back to the last success. */
function countFailuresInARow(attempts: DeliveryAttempt[]): number {
  let n = 0;
  for (let i = attempts.length - 1; i >= 0; i--) {
    const a = attempts[i] as DeliveryAttempt;
    if (a.status !== null && a.status >= 200 && a.status < 300) break;
    n++;
  }
  return n;
}
