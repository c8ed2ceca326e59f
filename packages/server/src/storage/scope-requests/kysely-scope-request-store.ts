import type { ScopeRequest } from '../../entities.js';
import type { DatabaseHandle } from '../database-handle.js';
import { scopeRequestFromRow, scopeRequestToRow } from './scope-request-rows.js';
import type { ScopeRequestStore } from './scope-request-store.js';

/** Scope requests over Kysely. */
export class KyselyScopeRequestStore implements ScopeRequestStore {
  constructor(private readonly handle: DatabaseHandle) {}

  private get db() {
    return this.handle.db;
  }

  async insertScopeRequest(s: ScopeRequest) {
    await this.db.insertInto('scope_requests').values(scopeRequestToRow(s)).execute();
  }

  async findScopeRequest(orgId: string, id: string) {
    const r = await this.db.selectFrom('scope_requests').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
    return r && scopeRequestFromRow(r);
  }

  async findScopeRequestByHash(authReqHash: string) {
    const r = await this.db.selectFrom('scope_requests').selectAll().where('auth_req_hash', '=', authReqHash).executeTakeFirst();
    return r && scopeRequestFromRow(r);
  }

  async countPendingScopeRequests(keyId: string, now: number) {
    const r = await this.db
      .selectFrom('scope_requests')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('key_id', '=', keyId)
      .where('status', '=', 'pending')
      .where('expires_at', '>', now)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async listPendingScopeRequests(orgId: string, now: number, limit: number) {
    const rows = await this.db
      .selectFrom('scope_requests')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('status', '=', 'pending')
      .where('expires_at', '>', now)
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .limit(limit)
      .execute();
    return rows.map(scopeRequestFromRow);
  }

  async listIssuedScopeRequests(requestingKeyId: string) {
    const rows = await this.db
      .selectFrom('scope_requests')
      .selectAll()
      .where('key_id', '=', requestingKeyId)
      .where('issued_key_id', 'is not', null)
      .orderBy('created_at', 'desc')
      .limit(100)
      .execute();
    return rows.map(scopeRequestFromRow);
  }

  async transitionScopeRequest(
    id: string,
    from: ScopeRequest['status'],
    to: ScopeRequest['status'],
    patch: Partial<Pick<ScopeRequest, 'decidedBy' | 'decidedAt' | 'grantedScope' | 'grantedExpiresAt' | 'issuedKeyId'>> = {},
  ) {
    const result = await this.db
      .updateTable('scope_requests')
      .set({
        status: to,
        ...(patch.decidedBy !== undefined ? { decided_by: patch.decidedBy } : {}),
        ...(patch.decidedAt !== undefined ? { decided_at: patch.decidedAt } : {}),
        ...(patch.grantedScope !== undefined ? { granted_scope: patch.grantedScope } : {}),
        ...(patch.grantedExpiresAt !== undefined ? { granted_expires_at: patch.grantedExpiresAt } : {}),
        ...(patch.issuedKeyId !== undefined ? { issued_key_id: patch.issuedKeyId } : {}),
      })
      .where('id', '=', id)
      .where('status', '=', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async touchScopeRequest(id: string, polledAt: number) {
    await this.db.updateTable('scope_requests').set({ last_polled_at: polledAt }).where('id', '=', id).execute();
  }
}
