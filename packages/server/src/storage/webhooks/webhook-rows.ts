import type { Selectable } from 'kysely';
import type { Webhook, WebhookDelivery } from '../../entities.js';
import { num } from '../columns.js';
import type { Database } from '../schema.js';

type WebhookRow = Selectable<Database['webhooks']>;
type DeliveryRow = Selectable<Database['webhook_deliveries']>;

export function webhookFromRow(r: WebhookRow): Webhook {
  return {
    id: r.id,
    orgId: r.org_id,
    url: r.url,
    events: JSON.parse(r.events) as string[],
    sealedSecret: r.secret,
    createdAt: num(r.created_at),
  };
}

export function webhookToRow(w: Webhook): WebhookRow {
  return { id: w.id, org_id: w.orgId, url: w.url, events: JSON.stringify(w.events), secret: w.sealedSecret, created_at: w.createdAt };
}

export function deliveryFromRow(r: DeliveryRow): WebhookDelivery {
  return {
    id: r.id,
    webhookId: r.webhook_id,
    orgId: r.org_id,
    eventType: r.event_type,
    payload: r.payload,
    status: r.status as WebhookDelivery['status'],
    attempts: JSON.parse(r.attempts) as WebhookDelivery['attempts'],
    nextAttemptAt: r.next_attempt_at === null ? null : num(r.next_attempt_at),
    createdAt: num(r.created_at),
  };
}

export function deliveryToRow(d: WebhookDelivery): DeliveryRow {
  return {
    id: d.id,
    webhook_id: d.webhookId,
    org_id: d.orgId,
    event_type: d.eventType,
    payload: d.payload,
    status: d.status,
    attempts: JSON.stringify(d.attempts),
    next_attempt_at: d.nextAttemptAt,
    created_at: d.createdAt,
  };
}
