import type { Role, Scope } from '@keyward/core';

export interface User {
  id: string;
  email: string;
  name: string | null;
  passwordHash: string;
  createdAt: number;
}

export interface Organization {
  id: string;
  name: string;
  plan: string;
  createdAt: number;
}

export interface Member {
  id: string;
  orgId: string;
  userId: string | null;
  email: string;
  role: Role;
  inviteTokenHash: string | null;
  inviteExpiresAt: number | null;
  invitedBy: string | null;
  createdAt: number;
  joinedAt: number | null;
}

export interface Session {
  id: string;
  userId: string;
  orgId: string;
  createdAt: number;
  expiresAt: number;
}

export interface ApiKey {
  id: string;
  orgId: string;
  createdBy: string;
  name: string;
  environment: string;
  scope: Scope;
  tier: string;
  hash: string;
  prefix: string;
  last4: string;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  lastUsedAt: number | null;
  ipAllowlist: string[];
  metadata: Record<string, unknown>;
  rotatedFrom: string | null;
  rotatedTo: string | null;
}

/**
 * What deciding on a key needs: its settings, its creator's current role (null when they left) and the
 * organization's plan. Book-keeping fields (hash, times of use, succession) are left out of the hot look-up.
 */
export interface KeyForVerify
  extends Pick<
    ApiKey,
    | 'id'
    | 'orgId'
    | 'createdBy'
    | 'name'
    | 'environment'
    | 'scope'
    | 'tier'
    | 'prefix'
    | 'expiresAt'
    | 'revokedAt'
    | 'ipAllowlist'
    | 'metadata'
  > {
  creatorRole: Role | null;
  orgPlan: string;
  orgName: string;
}

export interface DailyUsage {
  keyId: string;
  day: string;
  allowed: number;
  denied: number;
}

export interface RequestLogEntry {
  id: string;
  keyId: string;
  orgId: string;
  method: string;
  path: string;
  status: number;
  ip: string;
  at: number;
}

export interface AuditEvent {
  id: string;
  orgId: string;
  actorType: 'user' | 'key' | 'system';
  actorId: string;
  action: string;
  keyId: string | null;
  data: Record<string, unknown>;
  at: number;
}

/**
 * A sign-in in progress: an authorization code (loopback flow) or a device code (device flow). Only hashes of the
 * codes are stored; the key itself is minted when the code is exchanged, so no raw key waits anywhere.
 */
export interface AuthGrant {
  id: string;
  kind: 'code' | 'device';
  codeHash: string;
  userCode: string | null;
  status: 'pending' | 'approved' | 'denied' | 'used';
  userId: string | null;
  orgId: string | null;
  environment: string;
  name: string;
  scope: Scope | null;
  clientId: string | null;
  codeChallenge: string | null;
  redirectUri: string | null;
  pollInterval: number;
  lastPolledAt: number | null;
  createdAt: number;
  expiresAt: number;
}

/** One flush of the usage recorder: counters to add, last-used times, request log lines. */
export interface UsageBatch {
  daily: DailyUsage[];
  lastUsed: { keyId: string; at: number }[];
  requests: RequestLogEntry[];
}

/**
 * Storage, as keyward's services see it. One implementation over Kysely serves SQLite and PostgreSQL, and one
 * contract suite runs against both.
 */
export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  migrate(): Promise<void>;
  close(): Promise<void>;

  /** Creates a user together with their membership (and their own organization, when given) atomically. */
  createAccount(input: { user: User; organization?: Organization; member: Member }): Promise<void>;
  findUserByEmail(email: string): Promise<User | undefined>;
  findUser(id: string): Promise<User | undefined>;
  findOrganization(id: string): Promise<Organization | undefined>;
  listOrganizations(): Promise<(Organization & { members: number; activeKeys: number })[]>;
  /**
   * Moves an organization to another plan. Keys on its previous plan move with it; keys that were given a lower
   * tier keep theirs. Returns the previous plan, or undefined when there is no such organization.
   */
  setOrganizationPlan(orgId: string, plan: string): Promise<string | undefined>;

  insertMember(member: Member): Promise<void>;
  findMember(orgId: string, id: string): Promise<Member | undefined>;
  findMemberByEmail(orgId: string, email: string): Promise<Member | undefined>;
  findMemberByUser(userId: string): Promise<Member | undefined>;
  findMemberByInvite(tokenHash: string): Promise<Member | undefined>;
  listMembers(orgId: string): Promise<Member[]>;
  updateMemberRole(orgId: string, id: string, role: Role): Promise<void>;
  deleteMember(orgId: string, id: string): Promise<void>;

  insertSession(session: Session): Promise<void>;
  findSession(id: string): Promise<Session | undefined>;
  deleteSession(id: string): Promise<void>;
  deleteUserSessions(userId: string): Promise<void>;
  /** Deletes sessions that have expired and sign-in grants that expired more than a day ago. */
  pruneExpired(now: number): Promise<void>;

  /** Inserts a key unless its organization already has `maxActive` keys that are neither revoked nor expired. */
  insertKey(key: ApiKey, maxActive: number | null, now: number): Promise<'inserted' | 'limit_reached'>;
  findKey(orgId: string, id: string): Promise<ApiKey | undefined>;
  findKeyForVerify(hash: string): Promise<KeyForVerify | undefined>;
  listKeys(orgId: string, filter?: { environment?: string }): Promise<ApiKey[]>;
  updateKey(id: string, patch: Partial<Pick<ApiKey, 'revokedAt' | 'expiresAt' | 'rotatedTo'>>): Promise<void>;

  recordUsage(batch: UsageBatch): Promise<void>;
  dailyUsage(keyId: string, fromDay: string, toDay: string): Promise<DailyUsage[]>;
  recentRequests(keyId: string, limit: number): Promise<RequestLogEntry[]>;
  pruneRequestLog(olderThan: number, keepRows: number): Promise<void>;

  insertGrant(grant: AuthGrant): Promise<void>;
  findGrantByCode(codeHash: string): Promise<AuthGrant | undefined>;
  findGrantByUserCode(userCode: string): Promise<AuthGrant | undefined>;
  /** Moves a grant from one status to another; false when it was no longer in `from` (someone else got there first). */
  transitionGrant(
    id: string,
    from: AuthGrant['status'],
    to: AuthGrant['status'],
    patch?: { userId?: string; orgId?: string },
  ): Promise<boolean>;
  touchGrant(id: string, polledAt: number): Promise<void>;

  insertAudit(events: AuditEvent[]): Promise<void>;
  listAudit(orgId: string, filter: { keyId?: string; limit: number; before?: number }): Promise<AuditEvent[]>;
}
