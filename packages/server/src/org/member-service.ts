import { KeywardError, type Role } from '@keyward/core';
import type { AuditLog } from '../audit/audit-log.js';
import type { Actor } from '../auth/account-service.js';
import { newToken } from '../auth/tokens.js';
import type { InvalidationBus } from '../cache/invalidation-bus.js';
import type { KeyCache } from '../cache/key-cache.js';
import { type Clock, newId } from '../ids.js';
import type { Member, Store } from '../storage/store.js';

const INVITE_TTL_MS = 7 * 86_400_000;

function requireAdmin(actor: Actor): void {
  if (actor.role !== 'admin') throw new KeywardError('forbidden', 'Only admins can manage members.');
}

/** Members and invitations. A role change reaches every key the member made on the very next request. */
export class MemberService {
  constructor(
    private readonly store: Store,
    private readonly cache: KeyCache,
    private readonly bus: InvalidationBus,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
  ) {}

  async invite(actor: Actor, email: string, role: Role) {
    requireAdmin(actor);
    const normalized = email.trim().toLowerCase();
    if (await this.store.findMemberByEmail(actor.orgId, normalized)) {
      throw new KeywardError('conflict', 'This e-mail address is already a member or has a pending invitation.');
    }
    if (await this.store.findUserByEmail(normalized)) {
      throw new KeywardError('conflict', 'This e-mail address already has a keyward account in another organization.');
    }
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
    await this.store.insertMember(member);
    await this.audit.write(actor, 'member.invited', null, { member_id: member.id, email: normalized, role });
    return { member, inviteToken: token };
  }

  list(actor: Actor) {
    return this.store.listMembers(actor.orgId);
  }

  async changeRole(actor: Actor, memberId: string, role: Role) {
    requireAdmin(actor);
    const member = await this.#find(actor, memberId);
    if (member.role === 'admin' && role !== 'admin') await this.#keepOneAdmin(actor.orgId, member.id);
    await this.store.updateMemberRole(actor.orgId, member.id, role);
    await this.#invalidateCreator(actor.orgId, member.userId);
    await this.audit.write(actor, 'member.role_changed', null, { member_id: member.id, email: member.email, from: member.role, to: role });
    return { ...member, role };
  }

  async remove(actor: Actor, memberId: string) {
    requireAdmin(actor);
    const member = await this.#find(actor, memberId);
    if (member.role === 'admin') await this.#keepOneAdmin(actor.orgId, member.id);
    await this.store.deleteMember(actor.orgId, member.id);
    await this.#invalidateCreator(actor.orgId, member.userId);
    await this.audit.write(actor, 'member.removed', null, { member_id: member.id, email: member.email, role: member.role });
    return member;
  }

  async #find(actor: Actor, memberId: string): Promise<Member> {
    const member = await this.store.findMember(actor.orgId, memberId);
    if (!member) throw new KeywardError('not_found', 'No such member.');
    return member;
  }

  async #keepOneAdmin(orgId: string, leaving: string): Promise<void> {
    const admins = (await this.store.listMembers(orgId)).filter((m) => m.role === 'admin' && m.userId && m.id !== leaving);
    if (admins.length === 0) throw new KeywardError('conflict', 'An organization needs at least one admin.');
  }

  async #invalidateCreator(orgId: string, userId: string | null): Promise<void> {
    if (!userId) return;
    const event = { type: 'creator', orgId, userId } as const;
    this.cache.apply(event);
    await this.bus.publish(event);
  }
}
