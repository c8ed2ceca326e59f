import { setImmediate as nextTurn } from 'node:timers/promises';
import { sql } from 'kysely';
import type { DailyUsage, UsageBatch } from '../../entities.js';
import type { PageRequest } from '../../pagination.js';
import { afterCursor, num } from '../columns.js';
import type { DatabaseHandle } from '../database-handle.js';
import { countedKeysOf, type Served } from '../keys/active-keys.js';
import { dailyUsageFromRow, dailyUsageToRow, requestFromRow, requestToRow } from './usage-rows.js';
import type { UsageStore } from './usage-store.js';

/** Rows of the request log deleted by one statement when it is pruned; the event loop turns between two. */
const PRUNE_BATCH = 100;

/** Usage over Kysely. SQLite's store records usage through prepared statements instead (see SqliteStore). */
export class KyselyUsageStore implements UsageStore {
  constructor(private readonly handle: DatabaseHandle) {}

  private get db() {
    return this.handle.db;
  }

  async recordUsage(batch: UsageBatch) {
    if (batch.daily.length + batch.lastUsed.length + batch.requests.length === 0) return;
    await this.handle.transaction(async () => {
      const trx = this.db;
      for (const d of batch.daily) {
        await trx
          .insertInto('usage_daily')
          .values(dailyUsageToRow(d))
          .onConflict((oc) =>
            oc.columns(['key_id', 'day']).doUpdateSet({
              allowed: sql`usage_daily.allowed + ${d.allowed}`,
              denied: sql`usage_daily.denied + ${d.denied}`,
              credits: sql`usage_daily.credits + ${d.credits}`,
            }),
          )
          .execute();
      }
      for (const u of batch.lastUsed) {
        await trx
          .updateTable('api_keys')
          .set({ last_used_at: u.at })
          .where('id', '=', u.keyId)
          .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', u.at)]))
          .execute();
      }
      for (let i = 0; i < batch.requests.length; i += 200) {
        await trx
          .insertInto('request_log')
          .values(batch.requests.slice(i, i + 200).map(requestToRow))
          .execute();
      }
    });
  }

  async dailyUsage(keyIds: string | readonly string[], fromDay: string, toDay: string) {
    const ids = typeof keyIds === 'string' ? [keyIds] : [...keyIds];
    const out: DailyUsage[] = [];
    // In slices: a tree can hold more keys than one statement takes parameters.
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await this.db
        .selectFrom('usage_daily')
        .selectAll()
        .where('key_id', 'in', ids.slice(i, i + 500))
        .where('day', '>=', fromDay)
        .where('day', '<=', toDay)
        .orderBy('day')
        .execute();
      out.push(...rows.map(dailyUsageFromRow));
    }
    return out.sort((a, b) => a.day.localeCompare(b.day));
  }

  async recentRequests(keyId: string, page: PageRequest) {
    let q = this.db.selectFrom('request_log').selectAll().where('key_id', '=', keyId);
    const after = page.after;
    if (after) q = q.where(afterCursor('at', after, 'desc'));
    const rows = await q.orderBy('at', 'desc').orderBy('id', 'desc').limit(page.limit).execute();
    return rows.map(requestFromRow);
  }

  /**
   * Rows older than `olderThan`, and all but the newest `keepRows`, deleted a bounded batch at a time: one DELETE of
   * a minute's log took 75-100 ms of SQLite on the server's own thread (issue 26).
   */
  async pruneRequestLog(olderThan: number, keepRows: number) {
    const kept = await this.db.selectFrom('request_log').select('at').orderBy('at', 'desc').offset(keepRows).limit(1).executeTakeFirst();
    // Times are whole milliseconds: `at <= cutoff` is `at < cutoff + 1`.
    const before = kept ? Math.max(olderThan, num(kept.at) + 1) : olderThan;
    for (;;) {
      const r = await this.db
        .deleteFrom('request_log')
        .where('id', 'in', (eb) => eb.selectFrom('request_log').select('id').where('at', '<', before).limit(PRUNE_BATCH))
        .executeTakeFirst();
      if (Number(r.numDeletedRows) < PRUNE_BATCH) return;
      await nextTurn();
    }
  }

  async orgOverview(orgId: string, now: number, fromDay: string, served: Served) {
    const row = await this.db
      .selectNoFrom((eb) => [
        countedKeysOf(this.db, orgId, now, served).as('active_keys'),
        eb
          .selectFrom('usage_daily')
          .innerJoin('api_keys', 'api_keys.id', 'usage_daily.key_id')
          .select((e) => e.fn.coalesce(e.fn.sum<number>('usage_daily.allowed'), e.lit(0)).as('n'))
          .where('api_keys.org_id', '=', orgId)
          .where('usage_daily.day', '>=', fromDay)
          .as('allowed'),
      ])
      .executeTakeFirstOrThrow();
    return { activeKeys: num(row.active_keys), allowed: num(row.allowed) };
  }
}
