import type { Role } from '@keyward/core';
import type { Member, Organization, Session, User } from '../../entities.js';
import type { PageRequest } from '../../pagination.js';
import type { Served } from '../keys/active-keys.js';

/** People and where they belong: users, organizations, memberships and invitations, sessions. */
export interface AccountStore {
  /** Creates a user together with their membership (and their own organization, when given) atomically. */
  createAccount(input: { user: User; organization?: Organization; member: Member }): Promise<void>;
  findUserByEmail(email: string): Promise<User | undefined>;
  findUser(id: string): Promise<User | undefined>;
  /**
   * An account an import made is claimed: its password, name and e-mail set while its password hash is still
   * `unclaimed`, and the invitation that claimed it used up, in one transaction; false when it was claimed already.
   */
  claimImportedAccount(user: User, memberId: string, unclaimed: string): Promise<boolean>;

  findOrganization(id: string): Promise<Organization | undefined>;
  /** Every organization with its member count and its active keys (the one definition: {@link KeyStore.countActiveKeys}). */
  listOrganizations(now: number, served: Served): Promise<(Organization & { members: number; activeKeys: number })[]>;
  /**
   * Moves an organization to another plan. Cascade: keys on its previous plan move with it; keys that were given a
   * lower tier keep theirs. Returns the previous plan, or undefined when there is no such organization.
   */
  setOrganizationPlan(orgId: string, plan: string): Promise<string | undefined>;

  insertMember(member: Member): Promise<void>;
  findMember(orgId: string, id: string): Promise<Member | undefined>;
  findMemberByEmail(orgId: string, email: string): Promise<Member | undefined>;
  findMemberByUser(userId: string): Promise<Member | undefined>;
  findMemberByInvite(tokenHash: string): Promise<Member | undefined>;
  /** A new invitation (token hash and expiry) on a member: how an imported account gets another claim link. */
  setMemberInvite(memberId: string, tokenHash: string, expiresAt: number): Promise<void>;
  /** Members and invitations, oldest first; `page.limit` rows at most, after `page.after`. */
  listMembers(orgId: string, page: PageRequest): Promise<Member[]>;
  updateMemberRole(orgId: string, id: string, role: Role): Promise<void>;
  /** Joined admins of the organization other than `exceptMemberId`. */
  countOtherAdmins(orgId: string, exceptMemberId: string): Promise<number>;
  /**
   * Removes a member. Cascade: their sessions in that organization end with it, in one transaction. (Their keys are
   * not touched here: {@link KeyStore.revokeKeysOfCreator} is the service's call.)
   */
  deleteMember(orgId: string, id: string): Promise<void>;

  insertSession(session: Session): Promise<void>;
  findSession(id: string): Promise<Session | undefined>;
  deleteSession(id: string): Promise<void>;
  deleteUserSessions(userId: string): Promise<void>;
  /** Deletes sessions that have expired. */
  pruneExpiredSessions(now: number): Promise<void>;
}
