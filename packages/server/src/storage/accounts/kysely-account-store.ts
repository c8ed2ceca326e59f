import type { Role } from '@keyward/core';
import type { Member, Organization, Session, User } from '../../entities.js';
import type { PageRequest } from '../../pagination.js';
import { afterCursor, num } from '../columns.js';
import type { DatabaseHandle } from '../database-handle.js';
import { countedKey, type Served } from '../keys/active-keys.js';
import {
  memberFromRow,
  memberToRow,
  organizationFromRow,
  organizationToRow,
  sessionFromRow,
  sessionToRow,
  userFromRow,
  userToRow,
} from './account-rows.js';
import type { AccountStore } from './account-store.js';

/** Users, organizations, members and sessions over Kysely. */
export class KyselyAccountStore implements AccountStore {
  constructor(private readonly handle: DatabaseHandle) {}

  private get db() {
    return this.handle.db;
  }

  async createAccount({ user, organization, member }: { user: User; organization?: Organization; member: Member }) {
    await this.handle.transaction(async () => {
      const trx = this.db;
      await trx.insertInto('users').values(userToRow(user)).execute();
      if (organization) await trx.insertInto('organizations').values(organizationToRow(organization)).execute();
      const row = memberToRow(member);
      // An invitation is accepted by filling in its row; anyone else gets a new one.
      const updated = await trx
        .updateTable('members')
        .set({ user_id: row.user_id, invite_token_hash: null, invite_expires_at: null, joined_at: row.joined_at })
        .where('id', '=', member.id)
        .where('user_id', 'is', null)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0) await trx.insertInto('members').values(row).execute();
    });
  }

  async findUserByEmail(email: string) {
    const r = await this.db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
    return r && userFromRow(r);
  }

  async findUser(id: string) {
    const r = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return r && userFromRow(r);
  }

  async claimImportedAccount(user: User, memberId: string, unclaimed: string) {
    return this.handle.transaction(async () => {
      const r = await this.db
        .updateTable('users')
        .set({ password_hash: user.passwordHash, name: user.name, email: user.email })
        .where('id', '=', user.id)
        .where('password_hash', '=', unclaimed)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) return false;
      await this.db
        .updateTable('members')
        .set({ email: user.email, invite_token_hash: null, invite_expires_at: null })
        .where('id', '=', memberId)
        .execute();
      return true;
    });
  }

  async findOrganization(id: string) {
    const r = await this.db.selectFrom('organizations').selectAll().where('id', '=', id).executeTakeFirst();
    return r && organizationFromRow(r);
  }

  async listOrganizations(now: number, served: Served) {
    const rows = await this.db
      .selectFrom('organizations as o')
      .select((eb) => [
        'o.id',
        'o.name',
        'o.plan',
        'o.created_at',
        eb
          .selectFrom('members as m')
          .select((e) => e.fn.countAll<number>().as('n'))
          .whereRef('m.org_id', '=', 'o.id')
          .where('m.user_id', 'is not', null)
          .as('members'),
        eb
          .selectFrom('api_keys')
          .select((e) => e.fn.countAll<number>().as('n'))
          .whereRef('api_keys.org_id', '=', 'o.id')
          .where((e) => countedKey(e, now, served))
          .as('active_keys'),
      ])
      .orderBy('o.created_at')
      .execute();
    return rows.map((r) => ({ ...organizationFromRow(r), members: num(r.members), activeKeys: num(r.active_keys) }));
  }

  async setOrganizationPlan(orgId: string, plan: string) {
    return this.handle.transaction(async () => {
      const trx = this.db;
      const org = await trx.selectFrom('organizations').select('plan').where('id', '=', orgId).executeTakeFirst();
      if (!org) return undefined;
      await trx.updateTable('organizations').set({ plan }).where('id', '=', orgId).execute();
      await trx.updateTable('api_keys').set({ tier: plan }).where('org_id', '=', orgId).where('tier', '=', org.plan).execute();
      return org.plan;
    });
  }

  async insertMember(member: Member) {
    await this.db.insertInto('members').values(memberToRow(member)).execute();
  }

  async findMember(orgId: string, id: string) {
    const r = await this.db.selectFrom('members').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
    return r && memberFromRow(r);
  }

  async findMemberByEmail(orgId: string, email: string) {
    const r = await this.db.selectFrom('members').selectAll().where('org_id', '=', orgId).where('email', '=', email).executeTakeFirst();
    return r && memberFromRow(r);
  }

  async findMemberByUser(userId: string) {
    const r = await this.db.selectFrom('members').selectAll().where('user_id', '=', userId).orderBy('joined_at', 'asc').executeTakeFirst();
    return r && memberFromRow(r);
  }

  async findMemberByInvite(tokenHash: string) {
    const r = await this.db.selectFrom('members').selectAll().where('invite_token_hash', '=', tokenHash).executeTakeFirst();
    return r && memberFromRow(r);
  }

  async setMemberInvite(memberId: string, tokenHash: string, expiresAt: number) {
    await this.db
      .updateTable('members')
      .set({ invite_token_hash: tokenHash, invite_expires_at: expiresAt })
      .where('id', '=', memberId)
      .execute();
  }

  async listMembers(orgId: string, page: PageRequest) {
    let q = this.db.selectFrom('members').selectAll().where('org_id', '=', orgId);
    const after = page.after;
    if (after) q = q.where(afterCursor('created_at', after, 'asc'));
    const rows = await q.orderBy('created_at').orderBy('id').limit(page.limit).execute();
    return rows.map(memberFromRow);
  }

  async updateMemberRole(orgId: string, id: string, role: Role) {
    await this.db.updateTable('members').set({ role }).where('org_id', '=', orgId).where('id', '=', id).execute();
  }

  async countOtherAdmins(orgId: string, exceptMemberId: string) {
    const { n } = await this.db
      .selectFrom('members')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('org_id', '=', orgId)
      .where('role', '=', 'admin')
      .where('user_id', 'is not', null)
      .where('id', '!=', exceptMemberId)
      .executeTakeFirstOrThrow();
    return Number(n);
  }

  async deleteMember(orgId: string, id: string) {
    await this.handle.transaction(async () => {
      const trx = this.db;
      const m = await trx.selectFrom('members').select('user_id').where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
      if (m?.user_id) await trx.deleteFrom('sessions').where('user_id', '=', m.user_id).where('org_id', '=', orgId).execute();
      await trx.deleteFrom('members').where('org_id', '=', orgId).where('id', '=', id).execute();
    });
  }

  async insertSession(s: Session) {
    await this.db.insertInto('sessions').values(sessionToRow(s)).execute();
  }

  async findSession(id: string) {
    const r = await this.db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
    return r && sessionFromRow(r);
  }

  async deleteSession(id: string) {
    await this.db.deleteFrom('sessions').where('id', '=', id).execute();
  }

  async deleteUserSessions(userId: string) {
    await this.db.deleteFrom('sessions').where('user_id', '=', userId).execute();
  }

  async pruneExpiredSessions(now: number) {
    await this.db.deleteFrom('sessions').where('expires_at', '<=', now).execute();
  }
}
