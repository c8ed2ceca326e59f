import { sql } from 'kysely';
import type { Webhook, WebhookDelivery } from '../../entities.js';
import type { PageRequest } from '../../pagination.js';
import { afterCursor } from '../columns.js';
import type { DatabaseHandle } from '../database-handle.js';
import { deliveryFromRow, deliveryToRow, webhookFromRow, webhookToRow } from './webhook-rows.js';
import type { DeliveryShare, WebhookStore } from './webhook-store.js';

/** Webhooks and their deliveries over Kysely. */
export class KyselyWebhookStore implements WebhookStore {
  constructor(private readonly handle: DatabaseHandle) {}

  private get db() {
    return this.handle.db;
  }

  async insertWebhook(w: Webhook) {
    await this.db.insertInto('webhooks').values(webhookToRow(w)).execute();
  }

  async listWebhooks(orgId: string) {
    const rows = await this.db.selectFrom('webhooks').selectAll().where('org_id', '=', orgId).orderBy('created_at').orderBy('id').execute();
    return rows.map(webhookFromRow);
  }

  async findWebhook(orgId: string, id: string) {
    const r = await this.db.selectFrom('webhooks').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
    return r && webhookFromRow(r);
  }

  async deleteWebhook(orgId: string, id: string) {
    return this.handle.transaction(async () => {
      const r = await this.db.deleteFrom('webhooks').where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
      await this.db.deleteFrom('webhook_deliveries').where('org_id', '=', orgId).where('webhook_id', '=', id).execute();
      return Number(r.numDeletedRows) > 0;
    });
  }

  async insertDeliveries(deliveries: WebhookDelivery[]) {
    if (deliveries.length === 0) return;
    await this.db.insertInto('webhook_deliveries').values(deliveries.map(deliveryToRow)).execute();
  }

  async dueDeliveries(now: number, limit: number, share: DeliveryShare = { perOrganization: limit, perWebhook: limit }) {
    // Each due delivery's turn within its organization and within its webhook; the answer takes every
    // organization's first turn before anyone's second, so one organization's backlog never crowds out another's.
    let due = this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .select([
        sql<number>`row_number() over (partition by org_id order by next_attempt_at, id)`.as('org_turn'),
        sql<number>`row_number() over (partition by webhook_id order by next_attempt_at, id)`.as('hook_turn'),
      ])
      .where('status', '=', 'pending')
      .where('next_attempt_at', '<=', now);
    if (share.skipOrganizations?.length) due = due.where('org_id', 'not in', share.skipOrganizations);
    if (share.skipWebhooks?.length) due = due.where('webhook_id', 'not in', share.skipWebhooks);
    const rows = await this.db
      .selectFrom(due.as('due'))
      .selectAll()
      .where('org_turn', '<=', share.perOrganization)
      .where('hook_turn', '<=', share.perWebhook)
      .orderBy('org_turn')
      .orderBy('next_attempt_at')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(deliveryFromRow);
  }

  async claimDelivery(id: string, expectedNextAt: number, leaseUntil: number) {
    const r = await this.db
      .updateTable('webhook_deliveries')
      .set({ next_attempt_at: leaseUntil })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .where('next_attempt_at', '=', expectedNextAt)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async recordAttempt(id: string, attempts: WebhookDelivery['attempts'], status: WebhookDelivery['status'], nextAttemptAt: number | null) {
    await this.db
      .updateTable('webhook_deliveries')
      .set({ attempts: JSON.stringify(attempts), status, next_attempt_at: nextAttemptAt })
      .where('id', '=', id)
      .execute();
  }

  async listDeliveries(orgId: string, webhookId: string, page: PageRequest) {
    let q = this.db.selectFrom('webhook_deliveries').selectAll().where('org_id', '=', orgId).where('webhook_id', '=', webhookId);
    if (page.after) q = q.where(afterCursor('created_at', page.after, 'desc'));
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).execute();
    return rows.map(deliveryFromRow);
  }

  async findDelivery(orgId: string, id: string) {
    const r = await this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('id', '=', id)
      .executeTakeFirst();
    return r && deliveryFromRow(r);
  }

  async redeliver(orgId: string, id: string, now: number) {
    const r = await this.db
      .updateTable('webhook_deliveries')
      .set({ status: 'pending', next_attempt_at: now })
      .where('org_id', '=', orgId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async noteOnce(id: string, at: number) {
    const r = await this.db
      .insertInto('webhook_notices')
      .values({ id, at })
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
  }
}
