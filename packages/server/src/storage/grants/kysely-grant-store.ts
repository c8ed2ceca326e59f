import { type SqlBool, sql } from 'kysely';
import type { AuthGrant, OAuthClient, RefreshToken } from '../../entities.js';
import type { PageRequest } from '../../pagination.js';
import type { DatabaseHandle } from '../database-handle.js';
import { clientFromRow, clientToRow, grantFromRow, grantToRow, refreshTokenFromRow, refreshTokenToRow } from './grant-rows.js';
import type { GrantStore } from './grant-store.js';

/** Sign-in grants, clients and refresh tokens over Kysely. */
export class KyselyGrantStore implements GrantStore {
  constructor(private readonly handle: DatabaseHandle) {}

  private get db() {
    return this.handle.db;
  }

  async insertGrant(g: AuthGrant) {
    await this.db.insertInto('auth_grants').values(grantToRow(g)).execute();
  }

  async findGrantByCode(codeHash: string) {
    const r = await this.db.selectFrom('auth_grants').selectAll().where('code_hash', '=', codeHash).executeTakeFirst();
    return r && grantFromRow(r);
  }

  async findGrantByUserCode(userCode: string) {
    const r = await this.db.selectFrom('auth_grants').selectAll().where('user_code', '=', userCode).executeTakeFirst();
    return r && grantFromRow(r);
  }

  async transitionGrant(id: string, from: AuthGrant['status'], to: AuthGrant['status'], patch: { userId?: string; orgId?: string } = {}) {
    const result = await this.db
      .updateTable('auth_grants')
      .set({ status: to, ...(patch.userId ? { user_id: patch.userId } : {}), ...(patch.orgId ? { org_id: patch.orgId } : {}) })
      .where('id', '=', id)
      .where('status', '=', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async touchGrant(id: string, polledAt: number) {
    await this.db.updateTable('auth_grants').set({ last_polled_at: polledAt }).where('id', '=', id).execute();
  }

  async pruneExpiredGrants(now: number) {
    await this.db
      .deleteFrom('auth_grants')
      .where('expires_at', '<=', now - 86_400_000)
      .execute();
  }

  async insertClient(c: OAuthClient) {
    await this.db.insertInto('oauth_clients').values(clientToRow(c)).execute();
  }

  async findClient(clientId: string) {
    const r = await this.db.selectFrom('oauth_clients').selectAll().where('client_id', '=', clientId).executeTakeFirst();
    return r && clientFromRow(r);
  }

  async listClients(page: PageRequest) {
    let q = this.db.selectFrom('oauth_clients').selectAll();
    const after = page.after;
    if (after) q = q.where(sql<SqlBool>`(created_at, client_id) < (${after.at}, ${after.id})`);
    const rows = await q.orderBy('created_at', 'desc').orderBy('client_id', 'desc').limit(page.limit).execute();
    return rows.map(clientFromRow);
  }

  async revokeClient(clientId: string, at: number) {
    const r = await this.db
      .updateTable('oauth_clients')
      .set({ revoked_at: at })
      .where('client_id', '=', clientId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async insertRefreshToken(t: RefreshToken) {
    await this.db.insertInto('refresh_tokens').values(refreshTokenToRow(t)).execute();
  }

  async findRefreshToken(tokenHash: string) {
    const r = await this.db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
    return r && refreshTokenFromRow(r);
  }

  async useRefreshToken(id: string) {
    const r = await this.db
      .updateTable('refresh_tokens')
      .set({ status: 'used' })
      .where('id', '=', id)
      .where('status', '=', 'active')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async revokeRefreshFamily(familyId: string) {
    const rows = await this.db.selectFrom('refresh_tokens').select('key_id').where('family_id', '=', familyId).execute();
    await this.db.updateTable('refresh_tokens').set({ status: 'revoked' }).where('family_id', '=', familyId).execute();
    return [...new Set(rows.map((r) => r.key_id))];
  }

  async endRefreshFamiliesOfKeys(keyIds: readonly string[]) {
    if (keyIds.length === 0) return;
    await this.db
      .updateTable('refresh_tokens')
      .set({ status: 'revoked' })
      .where('status', '!=', 'revoked')
      .where('family_id', 'in', (eb) =>
        eb
          .selectFrom('refresh_tokens as live')
          .select('live.family_id')
          .where('live.status', '=', 'active')
          .where((w) =>
            w.or([
              w('live.key_id', 'in', [...keyIds]),
              w(
                'live.key_id',
                'in',
                w
                  .selectFrom('key_ancestors')
                  .select('key_ancestors.key_id')
                  .where('key_ancestors.ancestor_id', 'in', [...keyIds]),
              ),
            ]),
          ),
      )
      .execute();
  }
}
