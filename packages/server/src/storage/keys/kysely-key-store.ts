import { type Expression, type ExpressionBuilder, type SqlBool, sql } from 'kysely';
import type { ApiKey, KeyForVerify, LeakReport } from '../../entities.js';
import type { PageRequest } from '../../pagination.js';
import { afterCursor, num } from '../columns.js';
import type { DatabaseHandle } from '../database-handle.js';
import type { GrantStore } from '../grants/grant-store.js';
import type { Database } from '../schema.js';
import { countedKeysOf, isActive, type Served } from './active-keys.js';
import { ANCESTRY_COLUMNS, childAncestry, keyFromRow, keyToRow } from './key-rows.js';
import type { KeyStore } from './key-store.js';
import { keyForVerifyFromRow, type VerifyRow, verifySql } from './verify-lookup.js';

/** Keys over Kysely. Revocations reach refresh tokens through the grant store's cascade. */
export class KyselyKeyStore implements KeyStore {
  constructor(
    private readonly handle: DatabaseHandle,
    private readonly grants: Pick<GrantStore, 'endRefreshFamiliesOfKeys'>,
  ) {}

  private get db() {
    return this.handle.db;
  }

  insertKey(key: ApiKey) {
    return this.handle.transaction(async () => {
      const ancestry = key.parentId === null ? null : await this.#ancestryOf(key.parentId);
      await this.db
        .insertInto('api_keys')
        .values({ ...keyToRow(key), ancestry })
        .execute();
      if (key.parentId !== null) {
        // The closure: the parent at distance 1, and each of the parent's ancestors one step further away.
        await sql`INSERT INTO key_ancestors (key_id, ancestor_id, distance)
          SELECT ${key.id}, ${key.parentId}, 1
          UNION ALL SELECT ${key.id}, ancestor_id, distance + 1 FROM key_ancestors WHERE key_id = ${key.parentId}`.execute(this.db);
      }
    });
  }

  /** What a child key keeps of its ancestors for the verify path (see KeyAncestor). */
  async #ancestryOf(parentId: string): Promise<string> {
    const parent = await this.db.selectFrom('api_keys').select(ANCESTRY_COLUMNS).where('id', '=', parentId).executeTakeFirstOrThrow();
    return childAncestry(parent);
  }

  async findKey(orgId: string, id: string) {
    const r = await this.db.selectFrom('api_keys').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
    return r && keyFromRow(r);
  }

  async findKeyForVerify(hash: string): Promise<KeyForVerify | undefined> {
    const { rows } = await sql<VerifyRow>`${sql.raw(verifySql(this.handle.dialect))}${hash}`.execute(this.db);
    return rows[0] && keyForVerifyFromRow(rows[0]);
  }

  async listKeys(orgId: string, filter: { environment?: string }, page: PageRequest) {
    let q = this.db.selectFrom('api_keys').selectAll().where('org_id', '=', orgId);
    if (filter.environment) q = q.where('environment', '=', filter.environment);
    const after = page.after;
    if (after) q = q.where(afterCursor('created_at', after, 'desc'));
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).execute();
    return rows.map(keyFromRow);
  }

  async listKeysByIds(orgId: string, ids: readonly string[]) {
    const out: ApiKey[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await this.db
        .selectFrom('api_keys')
        .selectAll()
        .where('org_id', '=', orgId)
        .where('id', 'in', ids.slice(i, i + 500))
        .execute();
      out.push(...rows.map(keyFromRow));
    }
    return out;
  }

  async keysExpiringBetween(from: number, to: number) {
    const rows = await this.db
      .selectFrom('api_keys')
      .selectAll()
      .where((eb) => isActive(eb, from))
      .where('expires_at', '<=', to)
      .limit(10_000)
      .execute();
    return rows.map(keyFromRow);
  }

  async updateKeyAgent(orgId: string, id: string, agent: string | null) {
    const r = await this.db.updateTable('api_keys').set({ agent }).where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async markLeaked(id: string, leak: LeakReport) {
    await this.db
      .updateTable('api_keys')
      .set({ leak: JSON.stringify(leak) })
      .where('id', '=', id)
      .execute();
  }

  async retiredKeys(served: readonly string[], now: number) {
    const rows = await this.db
      .selectFrom('api_keys')
      .select((eb) => ['environment', 'prefix', eb.fn.countAll<number>().as('n')])
      .where((eb) => eb.and([isActive(eb, now), eb('environment', 'not in', served.length > 0 ? served : [''])]))
      .groupBy(['environment', 'prefix'])
      .orderBy('environment')
      .execute();
    return rows.map((r) => ({ environment: r.environment, prefix: r.prefix, count: num(r.n) }));
  }

  async countActiveKeys(orgId: string, now: number, served: Served) {
    return num((await countedKeysOf(this.db, orgId, now, served).executeTakeFirstOrThrow()).n);
  }

  async countActiveChildren(parentId: string, now: number) {
    const row = await this.db
      .selectFrom('api_keys')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('parent_id', '=', parentId)
      .where((eb) => isActive(eb, now))
      .executeTakeFirstOrThrow();
    return num(row.n);
  }

  async countActiveDescendants(rootId: string, now: number) {
    // The closure's ancestor index gives the subtree; its rows are joined by primary key for their state.
    const row = await this.db
      .selectFrom('key_ancestors')
      .innerJoin('api_keys', 'api_keys.id', 'key_ancestors.key_id')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('key_ancestors.ancestor_id', '=', rootId)
      .where((eb) => isActive(eb, now))
      .executeTakeFirstOrThrow();
    return num(row.n);
  }

  async subtreeKeyIds(rootIds: readonly string[]) {
    if (rootIds.length === 0) return [];
    const rows = await this.db
      .selectFrom('key_ancestors')
      .select('key_id')
      .distinct()
      .where('ancestor_id', 'in', [...rootIds])
      .execute();
    return [...new Set([...rootIds, ...rows.map((r) => r.key_id)])];
  }

  async listChildren(orgId: string, parentIds: readonly string[]) {
    if (parentIds.length === 0) return [];
    const rows = await this.db
      .selectFrom('api_keys')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('parent_id', 'in', [...parentIds])
      .orderBy('created_at')
      .orderBy('id')
      .limit(1000)
      .execute();
    return rows.map(keyFromRow);
  }

  async revokeKey(id: string, at: number) {
    const r = await this.db
      .updateTable('api_keys')
      .set({ revoked_at: at })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) return false;
    await this.#revokeSubtrees([id], at);
    return true;
  }

  async markRotated(
    oldId: string,
    successorId: string,
    end: { revokedAt: number | null; expiresAt: number | null },
    now: number,
    revokedSuccessor: string | null = null,
  ) {
    const r = await this.db
      .updateTable('api_keys')
      .set({ rotated_to: successorId, revoked_at: end.revokedAt, expires_at: end.expiresAt })
      .where('id', '=', oldId)
      .where((eb) => (revokedSuccessor === null ? eb('rotated_to', 'is', null) : eb('rotated_to', '=', revokedSuccessor)))
      .where((eb) => isActive(eb, now))
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) return false;
    if (end.revokedAt !== null) await this.#revokeSubtrees([oldId], end.revokedAt);
    else if (end.expiresAt !== null) await this.#endSubtreeBy(oldId, end.expiresAt);
    return true;
  }

  endGrace(lineageId: string, exceptId: string, now: number) {
    return this.#revokeActive(now, (eb) =>
      eb.and([eb('lineage_id', '=', lineageId), eb('id', '!=', exceptId), eb('rotated_to', 'is not', null)]),
    );
  }

  revokeKeysOfCreator(orgId: string, userId: string, now: number) {
    return this.#revokeActive(now, (eb) => eb.and([eb('org_id', '=', orgId), eb('created_by', '=', userId)]));
  }

  async lineageKeyIds(lineageId: string) {
    const rows = await this.db
      .selectFrom('api_keys')
      .select('id')
      .where('lineage_id', '=', lineageId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map((r) => r.id);
  }

  /** Revokes at `now` the keys `which` picks that still work (in grace too); their ids, for cache invalidation. */
  async #revokeActive(now: number, which: (eb: ExpressionBuilder<Database, 'api_keys'>) => Expression<SqlBool>): Promise<string[]> {
    const live = await this.db
      .selectFrom('api_keys')
      .select('id')
      .where((eb) => eb.and([which(eb), isActive(eb, now)]))
      .execute();
    const ids = live.map((r) => r.id);
    if (ids.length > 0) {
      await this.db.updateTable('api_keys').set({ revoked_at: now }).where('id', 'in', ids).where('revoked_at', 'is', null).execute();
      await this.#revokeSubtrees(ids, now);
    }
    return ids;
  }

  /**
   * The revocation cascade: revokes at `at` every key below `ids` that still has no revocation (a subtree goes with
   * its root), and ends the grant families of `ids` and of that subtree. Every revocation passes here, so this is
   * where it reaches refresh tokens.
   */
  async #revokeSubtrees(ids: readonly string[], at: number): Promise<void> {
    if (ids.length === 0) return;
    await this.grants.endRefreshFamiliesOfKeys(ids);
    await this.db
      .updateTable('api_keys')
      .set({ revoked_at: at })
      .where('revoked_at', 'is', null)
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('key_ancestors')
          .select('key_id')
          .where('ancestor_id', 'in', [...ids]),
      )
      .execute();
  }

  /** The grace cascade: children never outlive a rotated parent, so every key below `rootId` ends by `until`. */
  async #endSubtreeBy(rootId: string, until: number): Promise<void> {
    await this.db
      .updateTable('api_keys')
      .set({ expires_at: until })
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', until)]))
      .where('id', 'in', (eb) => eb.selectFrom('key_ancestors').select('key_id').where('ancestor_id', '=', rootId))
      .execute();
  }
}
