import { KeywardError, lowerScope, type Role } from '@keyward/core';
import type { AuditLog } from '../audit/audit-log.js';
import { type Actor, authorize } from '../auth/authorization.js';
import { newToken } from '../auth/tokens.js';
import type { Invalidations } from '../cache/invalidation-bus.js';
import { type Clock, newId } from '../ids.js';
import { type Page, type PageRequest, readPage } from '../pagination.js';
import type { AccountStore, KeyStore, Member, StoreBase } from '../storage/store.js';

const INVITE_TTL_MS = 7 * 86_400_000;

const lowerRole = (a: Role, b: Role): Role => lowerScope(a, b) as Role;

/** Members and invitations. A role change reaches every key the member made on the very next request. */
export class MemberService {
  constructor(
    private readonly store: AccountStore & KeyStore & StoreBase,
    private readonly invalidations: Invalidations,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
  ) {}

  async invite(actor: Actor, email: string, role: Role) {
    authorize(actor, 'member.invite');
    const normalized = email.trim().toLowerCase();
    const { token, hash } = newToken('kwi_');
    const now = this.clock.now();
    const member: Member = {
      id: newId('mem'),
      orgId: actor.orgId,
      userId: null,
      email: normalized,
      role,
      inviteTokenHash: hash,
      inviteExpiresAt: now + INVITE_TTL_MS,
      invitedBy: actor.userId,
      createdAt: now,
      joinedAt: null,
    };
    await this.#asAdmin(actor, 'member.invite', async () => {
      if (await this.store.findMemberByEmail(actor.orgId, normalized)) {
        throw new KeywardError('conflict', 'This e-mail address is already a member or has a pending invitation.');
      }
      if (await this.store.findUserByEmail(normalized)) {
        throw new KeywardError('conflict', 'This e-mail address already has a keyward account in another organization.');
      }
      await this.store.insertMember(member);
      await this.audit.write(actor, 'member.invited', null, { member_id: member.id, email: normalized, role });
    });
    return { member, inviteToken: token };
  }

  /** A page of members and pending invitations, oldest first. */
  async list(actor: Actor, page: PageRequest): Promise<Page<Member>> {
    authorize(actor, 'member.list');
    return readPage(
      page,
      (p) => this.store.listMembers(actor.orgId, p),
      (m) => ({ at: m.createdAt, id: m.id }),
    );
  }

  async changeRole(actor: Actor, memberId: string, role: Role) {
    authorize(actor, 'member.change_role');
    const changed = await this.#asAdmin(actor, 'member.change_role', async () => {
      const member = await this.#find(actor, memberId);
      if (member.role === 'admin' && role !== 'admin') await this.#keepOneAdmin(actor.orgId, member.id);
      await this.store.updateMemberRole(actor.orgId, member.id, role);
      await this.audit.write(actor, 'member.role_changed', null, {
        member_id: member.id,
        email: member.email,
        from: member.role,
        to: role,
      });
      return { ...member, role };
    });
    await this.#invalidateCreator(actor.orgId, changed.userId);
    return changed;
  }

  async remove(actor: Actor, memberId: string) {
    authorize(actor, 'member.remove');
    const member = await this.#asAdmin(actor, 'member.remove', async () => {
      const found = await this.#find(actor, memberId);
      if (found.role === 'admin') await this.#keepOneAdmin(actor.orgId, found.id);
      await this.store.deleteMember(actor.orgId, found.id);
      // Their keys are revoked with them: shown as revoked, no longer counted towards the plan.
      const revoked = found.userId ? await this.store.revokeKeysOfCreator(actor.orgId, found.userId, this.clock.now()) : [];
      await this.audit.write(actor, 'member.removed', null, {
        member_id: found.id,
        email: found.email,
        role: found.role,
        revoked_keys: revoked.length,
      });
      return found;
    });
    await this.#invalidateCreator(actor.orgId, member.userId);
    return member;
  }

  /**
   * Runs a member change under the organization's lock, with the actor's role as it is now, not as it was when
   * the request was authenticated: two admins demoting each other at once leave one admin, never none.
   */
  async #asAdmin<T>(actor: Actor, action: 'member.invite' | 'member.change_role' | 'member.remove', fn: () => Promise<T>): Promise<T> {
    return this.store.transaction(async () => {
      await this.store.lockOrganization(actor.orgId);
      const current = await this.store.findMemberByUser(actor.userId);
      if (!current || current.orgId !== actor.orgId)
        throw new KeywardError('forbidden', 'You are no longer a member of this organization.');
      authorize({ ...actor, role: lowerRole(actor.role, current.role) }, action);
      return fn();
    });
  }

  async #find(actor: Actor, memberId: string): Promise<Member> {
    const member = await this.store.findMember(actor.orgId, memberId);
    if (!member) throw new KeywardError('not_found', 'No such member.');
    return member;
  }

  async #keepOneAdmin(orgId: string, leaving: string): Promise<void> {
    if ((await this.store.countOtherAdmins(orgId, leaving)) === 0) {
      throw new KeywardError('conflict', 'An organization needs at least one admin.');
    }
  }

  async #invalidateCreator(orgId: string, userId: string | null): Promise<void> {
    if (!userId) return;
    await this.invalidations.send({ type: 'creator', orgId, userId });
  }
}
