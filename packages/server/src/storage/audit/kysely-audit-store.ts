import type { ExpressionBuilder } from 'kysely';
import type { AuditEvent } from '../../entities.js';
import type { PageRequest } from '../../pagination.js';
import { afterCursor } from '../columns.js';
import type { DatabaseHandle } from '../database-handle.js';
import type { Database } from '../schema.js';
import { auditFromRow, auditToRow } from './audit-rows.js';
import type { AuditFilter, AuditStore } from './audit-store.js';

/** The audit log over Kysely. */
export class KyselyAuditStore implements AuditStore {
  constructor(private readonly handle: DatabaseHandle) {}

  private get db() {
    return this.handle.db;
  }

  async insertAudit(events: AuditEvent[]) {
    if (events.length === 0) return;
    await this.db.insertInto('audit_events').values(events.map(auditToRow)).execute();
  }

  async listAudit(orgId: string, filter: AuditFilter, page: PageRequest) {
    let q = this.db.selectFrom('audit_events').selectAll().where('org_id', '=', orgId);
    if (filter.keyId) q = q.where('key_id', '=', filter.keyId);
    // By agent or by key tree: events about one of those keys, or done by one of them.
    const { agent, keyTree } = filter;
    if (agent !== undefined || keyTree !== undefined) {
      const keys = (eb: ExpressionBuilder<Database, 'audit_events'>) => {
        let k = eb.selectFrom('api_keys').select('api_keys.id').where('api_keys.org_id', '=', orgId);
        if (agent !== undefined) k = k.where('api_keys.agent', '=', agent);
        if (keyTree !== undefined)
          k = k.where((e) =>
            e.or([
              e('api_keys.id', '=', keyTree),
              e('api_keys.id', 'in', e.selectFrom('key_ancestors').select('key_id').where('ancestor_id', '=', keyTree)),
            ]),
          );
        return k;
      };
      q = q.where((eb) => eb.or([eb('key_id', 'in', keys(eb)), eb.and([eb('actor_type', '=', 'key'), eb('actor_id', 'in', keys(eb))])]));
    }
    if (filter.before) q = q.where('at', '<', filter.before);
    const after = page.after;
    if (after) q = q.where(afterCursor('at', after, 'desc'));
    const rows = await q.orderBy('at', 'desc').orderBy('id', 'desc').limit(page.limit).execute();
    return rows.map(auditFromRow);
  }
}
