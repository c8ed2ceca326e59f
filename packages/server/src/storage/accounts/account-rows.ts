import type { Selectable } from 'kysely';
import type { Member, Organization, Session, User } from '../../entities.js';
import { num, numOrNull } from '../columns.js';
import type { Database } from '../schema.js';

type UserRow = Selectable<Database['users']>;
type OrganizationRow = Selectable<Database['organizations']>;
type MemberRow = Selectable<Database['members']>;
type SessionRow = Selectable<Database['sessions']>;

export function userFromRow(r: UserRow): User {
  return { id: r.id, email: r.email, name: r.name, passwordHash: r.password_hash, createdAt: num(r.created_at) };
}

export function userToRow(u: User): UserRow {
  return { id: u.id, email: u.email, name: u.name, password_hash: u.passwordHash, created_at: u.createdAt };
}

export function organizationFromRow(r: OrganizationRow): Organization {
  return { id: r.id, name: r.name, plan: r.plan, createdAt: num(r.created_at) };
}

export function organizationToRow(o: Organization): OrganizationRow {
  return { id: o.id, name: o.name, plan: o.plan, created_at: o.createdAt };
}

export function memberFromRow(r: MemberRow): Member {
  return {
    id: r.id,
    orgId: r.org_id,
    userId: r.user_id,
    email: r.email,
    role: r.role,
    inviteTokenHash: r.invite_token_hash,
    inviteExpiresAt: numOrNull(r.invite_expires_at),
    invitedBy: r.invited_by,
    createdAt: num(r.created_at),
    joinedAt: numOrNull(r.joined_at),
  };
}

export function memberToRow(m: Member): MemberRow {
  return {
    id: m.id,
    org_id: m.orgId,
    user_id: m.userId,
    email: m.email,
    role: m.role,
    invite_token_hash: m.inviteTokenHash,
    invite_expires_at: m.inviteExpiresAt,
    invited_by: m.invitedBy,
    created_at: m.createdAt,
    joined_at: m.joinedAt,
  };
}

export function sessionFromRow(r: SessionRow): Session {
  return { id: r.id, userId: r.user_id, orgId: r.org_id, createdAt: num(r.created_at), expiresAt: num(r.expires_at) };
}

export function sessionToRow(s: Session): SessionRow {
  return { id: s.id, user_id: s.userId, org_id: s.orgId, created_at: s.createdAt, expires_at: s.expiresAt };
}
