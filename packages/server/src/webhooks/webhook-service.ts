import { randomBytes } from 'node:crypto';
import { KeywardError } from '@keyward/core';
import type { Actor } from '../auth/authorization.js';
import { authorize } from '../auth/authorization.js';
import type { Sealer } from '../auth/sealer.js';
import type { KeywardConfig } from '../config/config.js';
import type { AuditEvent, Webhook, WebhookDelivery } from '../entities.js';
import { type Clock, newId, sortableId } from '../ids.js';
import { targetProblem } from '../net/outbound.js';
import { type Page, type PageRequest, readPage } from '../pagination.js';
import type { WebhookStore } from '../storage/store.js';
import type { Throttles } from '../throttle/throttles.js';

/** The events an organization can subscribe to. `webhook.test` is sent only by the "send a test event" button. */
export const WEBHOOK_EVENTS = [
  'key.created',
  'key.derived',
  'key.rotated',
  'key.revoked',
  'key.leaked',
  'key.expiring',
  'quota.threshold',
  'rate_limit.exceeded',
  'key.scope_requested',
  'key.scope_request_decided',
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number] | 'webhook.test';

/** At most this many webhooks per organization. */
const MAX_WEBHOOKS = 10;

/**
 * An organization's webhooks and the events they are sent. Events are written as deliveries (one per webhook that
 * wants them) in the same transaction as what caused them, so nothing is lost to a crash or a restart; the
 * {@link WebhookDispatcher} sends them, never on a request's path.
 */
export class WebhookService {
  /** Called after deliveries are written, so that the dispatcher sends them at once instead of on its next tick. */
  onQueued: () => void = () => {};

  constructor(
    private readonly store: WebhookStore,
    private readonly sealer: Sealer,
    private readonly clock: Clock,
    private readonly config: KeywardConfig,
    private readonly throttles: Throttles,
  ) {}

  /** Registers a webhook; the answer carries its `whsec_` signing secret, shown this once. */
  async create(actor: Actor, input: { url: string; events?: string[] | undefined }): Promise<{ webhook: Webhook; secret: string }> {
    authorize(actor, 'webhook.manage');
    const problem = await targetProblem(input.url, this.config.webhooks.allowPrivateTargets);
    if (problem) throw new KeywardError('invalid_request', problem, {}, { field: 'url' });
    const events = [...new Set(input.events ?? [])];
    const unknown = events.filter((e) => !(WEBHOOK_EVENTS as readonly string[]).includes(e));
    if (unknown.length > 0)
      throw new KeywardError(
        'invalid_request',
        `events: unknown ${unknown.join(', ')}; known: ${WEBHOOK_EVENTS.join(', ')}`,
        {},
        { field: 'events' },
      );
    if ((await this.store.listWebhooks(actor.orgId)).length >= MAX_WEBHOOKS)
      throw new KeywardError('conflict', `An organization has at most ${MAX_WEBHOOKS} webhooks: delete one first.`);
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    const webhook: Webhook = {
      id: newId('wh'),
      orgId: actor.orgId,
      url: input.url,
      events,
      sealedSecret: this.sealer.seal(secret),
      createdAt: this.clock.now(),
    };
    await this.store.insertWebhook(webhook);
    return { webhook, secret };
  }

  async list(actor: Actor): Promise<Webhook[]> {
    authorize(actor, 'webhook.manage');
    return this.store.listWebhooks(actor.orgId);
  }

  async get(actor: Actor, id: string): Promise<Webhook> {
    authorize(actor, 'webhook.manage');
    const webhook = await this.store.findWebhook(actor.orgId, id);
    if (!webhook) throw new KeywardError('not_found', 'No such webhook.');
    return webhook;
  }

  async remove(actor: Actor, id: string): Promise<void> {
    authorize(actor, 'webhook.manage');
    if (!(await this.store.deleteWebhook(actor.orgId, id))) throw new KeywardError('not_found', 'No such webhook.');
  }

  /** A webhook's delivery log, newest first: each event with its tries (time, status, error). */
  async deliveries(actor: Actor, id: string, page: PageRequest): Promise<Page<WebhookDelivery>> {
    await this.get(actor, id);
    return readPage(
      page,
      (p) => this.store.listDeliveries(actor.orgId, id, p),
      (d) => ({ at: d.createdAt, id: d.id }),
    );
  }

  /** "Send again": the delivery is tried once more now, with the same `webhook-id`, whatever became of it. */
  async redeliver(actor: Actor, deliveryId: string): Promise<WebhookDelivery> {
    authorize(actor, 'webhook.manage');
    if (!(await this.store.redeliver(actor.orgId, deliveryId, this.clock.now()))) throw new KeywardError('not_found', 'No such delivery.');
    this.onQueued();
    return (await this.store.findDelivery(actor.orgId, deliveryId)) as WebhookDelivery;
  }

  /**
   * Sends a `webhook.test` event to one webhook, to try a receiver. Each is charged to the organization first
   * (`throttles.webhook_tests`): test events are the one way to queue deliveries at will, so past the budget
   * they answer 429 instead of filling the organization's queue.
   */
  async sendTest(actor: Actor, id: string): Promise<WebhookDelivery> {
    const webhook = await this.get(actor, id);
    await this.throttles.webhookTest(actor.orgId, this.clock.now());
    const [delivery] = await this.#queue([webhook], 'webhook.test', { message: 'A test event from keyward.', webhook_id: webhook.id });
    return delivery as WebhookDelivery;
  }

  /** Queues an event for every webhook of the organization that wants it. */
  async emit(orgId: string, type: WebhookEvent, data: Record<string, unknown>): Promise<void> {
    const hooks = await this.#subscribers(orgId, type);
    if (hooks.length > 0) await this.#queue(hooks, type, { organization_id: orgId, ...data });
  }

  /** The audit events that are also webhook events (a key created, rotated, revoked, leaked), as they are written. */
  async fromAudit(event: AuditEvent): Promise<void> {
    if (!(WEBHOOK_EVENTS as readonly string[]).includes(event.action)) return;
    const { on_behalf_of: onBehalfOf, ...data } = event.data;
    await this.emit(event.orgId, event.action as WebhookEvent, {
      ...(event.keyId ? { key_id: event.keyId } : {}),
      ...data,
      actor: { type: event.actorType, id: event.actorId, ...(typeof onBehalfOf === 'string' ? { on_behalf_of: onBehalfOf } : {}) },
    });
  }

  /** Emits a notice once ever for `dedupe` (a key's expiry, a month's threshold, a 10-minute window): storage decides. */
  async emitOnce(dedupe: string, orgId: string, type: WebhookEvent, data: Record<string, unknown>): Promise<void> {
    const hooks = await this.#subscribers(orgId, type);
    if (hooks.length === 0) return;
    if (await this.store.noteOnce(dedupe, this.clock.now())) await this.#queue(hooks, type, { organization_id: orgId, ...data });
  }

  /** The organization's webhooks that want `type` (those that named no events want every one). */
  async #subscribers(orgId: string, type: WebhookEvent): Promise<Webhook[]> {
    return (await this.store.listWebhooks(orgId)).filter((w) => w.events.length === 0 || w.events.includes(type));
  }

  /** The signing secret of a webhook, for the dispatcher. */
  secretOf(webhook: Webhook): string {
    return this.sealer.open(webhook.sealedSecret);
  }

  async #queue(hooks: Webhook[], type: WebhookEvent, data: Record<string, unknown>): Promise<WebhookDelivery[]> {
    const now = this.clock.now();
    const payload = JSON.stringify({ type, timestamp: new Date(now).toISOString(), data });
    const deliveries = hooks.map(
      (w): WebhookDelivery => ({
        id: sortableId('msg', now),
        webhookId: w.id,
        orgId: w.orgId,
        eventType: type,
        payload,
        status: 'pending',
        attempts: [],
        nextAttemptAt: now,
        createdAt: now,
      }),
    );
    await this.store.insertDeliveries(deliveries);
    this.onQueued();
    return deliveries;
  }
}
