import type { ApiKey } from '../../entities.js';
import type { PageRequest } from '../../pagination.js';
import { afterCursor } from '../columns.js';
import type { DatabaseHandle } from '../database-handle.js';
import { keyFromRow, keyToRow } from '../keys/key-rows.js';
import type { ImportStore } from './import-store.js';

/** Imports over Kysely. SQLite's store inserts imported keys through a prepared statement instead (see SqliteStore). */
export class KyselyImportStore implements ImportStore {
  constructor(private readonly handle: DatabaseHandle) {}

  private get db() {
    return this.handle.db;
  }

  async hasImportedKeys() {
    const r = await this.db.selectFrom('api_keys').select('id').where('imported_from', 'is not', null).limit(1).executeTakeFirst();
    return r !== undefined;
  }

  async findImported(hashes: readonly string[], refs: readonly string[]) {
    // Two look-ups, one per index, rather than one with an OR that a planner without statistics may answer with a
    // scan of the whole table (PostgreSQL did, on a fresh table).
    const out = new Set<string>();
    for (let i = 0; i < hashes.length; i += 5000) {
      const rows = await this.db
        .selectFrom('api_keys')
        .select('hash')
        .where('hash', 'in', hashes.slice(i, i + 5000))
        .execute();
      for (const row of rows) out.add(row.hash);
    }
    for (let i = 0; i < refs.length; i += 5000) {
      const rows = await this.db
        .selectFrom('api_keys')
        .select('import_ref')
        .where('import_ref', 'in', refs.slice(i, i + 5000))
        .execute();
      for (const row of rows) if (row.import_ref) out.add(row.import_ref);
    }
    return out;
  }

  async insertImportedKeys(keys: readonly ApiKey[]) {
    let inserted = 0;
    await this.handle.transaction(async () => {
      // 1,000 rows of 28 columns a statement: well under PostgreSQL's 65,535 parameters.
      for (let i = 0; i < keys.length; i += 1000) {
        const r = await this.db
          .insertInto('api_keys')
          .values(keys.slice(i, i + 1000).map(keyToRow))
          .onConflict((oc) => oc.doNothing())
          .executeTakeFirst();
        inserted += Number(r.numInsertedOrUpdatedRows ?? 0);
      }
    });
    return inserted;
  }

  async rehashImported(id: string, hash: string, last4: string, importedHash: string, importRef: string) {
    const r = await this.db
      .updateTable('api_keys')
      .set({ hash, last4, import_ref: importRef })
      .where('id', '=', id)
      .where('hash', '=', importedHash)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async exportKeys(orgId: string | undefined, page: PageRequest) {
    let q = this.db
      .selectFrom('api_keys')
      .selectAll('api_keys')
      .select((eb) => eb.selectFrom('users').select('users.email').whereRef('users.id', '=', 'api_keys.created_by').as('owner_email'))
      .where('parent_id', 'is', null);
    if (orgId) q = q.where('org_id', '=', orgId);
    if (page.after) q = q.where(afterCursor('created_at', page.after, 'asc'));
    const rows = await q.orderBy('created_at').orderBy('id').limit(page.limit).execute();
    return rows.map((r) => ({ key: keyFromRow(r), ownerEmail: r.owner_email ?? '' }));
  }

  async claimImportedKeys(
    held: { memberId: string; userId: string; orgId: string; unclaimed: string },
    into: { orgId: string; userId: string; tier: string },
  ) {
    return this.handle.transaction(async () => {
      const db = this.db;
      // The invitation is used up first: of two claims at once, one updates it and the other finds nothing.
      const used = await db
        .updateTable('members')
        .set({ invite_token_hash: null, invite_expires_at: null })
        .where('id', '=', held.memberId)
        .where('org_id', '=', held.orgId)
        .where('user_id', '=', held.userId)
        .where('invite_token_hash', 'is not', null)
        .executeTakeFirst();
      const account = await db.selectFrom('users').select('password_hash').where('id', '=', held.userId).executeTakeFirst();
      if (Number(used.numUpdatedRows) !== 1 || account?.password_hash !== held.unclaimed) return null;
      const moved = await db
        .updateTable('api_keys')
        .set({ org_id: into.orgId, created_by: into.userId, tier: into.tier })
        .where('org_id', '=', held.orgId)
        .executeTakeFirst();
      await db.updateTable('refresh_tokens').set({ org_id: into.orgId, user_id: into.userId }).where('org_id', '=', held.orgId).execute();
      await db.updateTable('audit_events').set({ org_id: into.orgId }).where('org_id', '=', held.orgId).execute();
      await db.updateTable('request_log').set({ org_id: into.orgId }).where('org_id', '=', held.orgId).execute();
      await db.deleteFrom('sessions').where('user_id', '=', held.userId).execute();
      await db.deleteFrom('members').where('org_id', '=', held.orgId).execute();
      await db.deleteFrom('users').where('id', '=', held.userId).execute();
      await db.deleteFrom('organizations').where('id', '=', held.orgId).execute();
      return Number(moved.numUpdatedRows);
    });
  }
}
