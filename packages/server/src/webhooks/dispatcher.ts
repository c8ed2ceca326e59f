import { AsyncResource } from 'node:async_hooks';
import type { Logger } from 'pino';
import { Webhook as Signer } from 'standardwebhooks';
import type { KeywardConfig } from '../config/config.js';
import type { DeliveryAttempt, WebhookDelivery } from '../entities.js';
import type { Clock } from '../ids.js';
import type { Store } from '../storage/store.js';
import { targetProblem } from './targets.js';
import type { WebhookService } from './webhook-service.js';

/** How many due deliveries one tick takes, and how often the store is asked (events queued here are sent at once). */
const BATCH = 20;
const TICK_MS = 1000;

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

  constructor(
    private readonly store: Store,
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
  }

  async #pass(): Promise<void> {
    const due = await this.store.dueDeliveries(this.clock.now(), BATCH);
    await Promise.all(due.map((d) => this.#tryOnce(d)));
    if (due.length === BATCH) this.#again = true;
  }

  async #tryOnce(delivery: WebhookDelivery): Promise<void> {
    const now = this.clock.now();
    // The lease outlasts one try; if this instance dies mid-try, the delivery is due again after it.
    if (!(await this.store.claimDelivery(delivery.id, delivery.nextAttemptAt ?? now, now + this.config.webhooks.timeoutMs + 30_000)))
      return;
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
    const problem = await targetProblem(url, this.config.webhooks.allowPrivateTargets);
    if (problem) return done(null, problem);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'keyward-webhooks/1',
          'webhook-id': delivery.id,
          'webhook-timestamp': String(Math.floor(started / 1000)),
          'webhook-signature': new Signer(secret).sign(delivery.id, at, delivery.payload),
        },
        body: delivery.payload,
        // A redirect would send the event where the organization did not register it to go.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.config.webhooks.timeoutMs),
      });
      await res.body?.cancel().catch(() => {});
      return done(res.status, res.status >= 200 && res.status < 300 ? null : `answered ${res.status}`);
    } catch (error) {
      const e = error as Error & { cause?: { code?: string; message?: string } };
      return done(null, e.name === 'TimeoutError' ? 'no answer in time' : (e.cause?.code ?? e.cause?.message ?? e.message));
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
