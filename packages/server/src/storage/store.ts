import type { Role } from '@keyward/core';
import type {
  ApiKey,
  AuditEvent,
  AuthGrant,
  DailyUsage,
  KeyForVerify,
  LeakReport,
  Member,
  OAuthClient,
  Organization,
  RefreshToken,
  RequestLogEntry,
  Session,
  UsageBatch,
  User,
  Webhook,
  WebhookDelivery,
} from '../entities.js';
import type { PageRequest } from '../pagination.js';

export type {
  ApiKey,
  AuditEvent,
  AuthGrant,
  DailyUsage,
  KeyAncestor,
  KeyForVerify,
  LeakReport,
  Member,
  OAuthClient,
  Organization,
  RefreshToken,
  RequestLogEntry,
  Session,
  UsageBatch,
  User,
  Webhook,
  WebhookDelivery,
} from '../entities.js';

/** A page of a list, newest first, and the cursor of the next page (null on the last). */
export interface Page<T> {
  items: T[];
  next: string | null;
}

/** Which audit events to list: about one key, before a time, about or by the keys of an agent or of a key's tree. */
export interface AuditFilter {
  keyId?: string;
  before?: number;
  agent?: string;
  /** A key id: events about, or done by, that key or any key derived from it. */
  keyTree?: string;
}

/** How due webhook deliveries are shared out: caps per organization and per webhook, and whose share is busy. */
export interface DeliveryShare {
  perOrganization: number;
  perWebhook: number;
  skipOrganizations?: readonly string[];
  skipWebhooks?: readonly string[];
}

/** What a dashboard form post left behind, for its one-time token: where its result is, and a secret to show once. */
export interface FormResult {
  location: string | null;
}

/**
 * Storage, as keyward's services see it. One implementation over Kysely serves SQLite and PostgreSQL, and one
 * contract suite runs against both.
 */
export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  migrate(): Promise<void>;
  close(): Promise<void>;

  /**
   * Runs `fn` in one transaction: every store call made inside it (by any service, at any depth) joins it, and a
   * throw rolls all of it back. Nested calls join the outer transaction. Do only storage work inside: caches, buses
   * and other side effects belong after it commits.
   */
  transaction<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Inside a transaction: waits for, then holds until commit, the organization's write lock, so that
   * check-then-act rules of one organization (key limit, last admin, rotation, invitations) run one at a time.
   */
  lockOrganization(orgId: string): Promise<void>;

  /** Creates a user together with their membership (and their own organization, when given) atomically. */
  createAccount(input: { user: User; organization?: Organization; member: Member }): Promise<void>;
  findUserByEmail(email: string): Promise<User | undefined>;
  findUser(id: string): Promise<User | undefined>;
  /**
   * An account an import made is claimed: its password, name and e-mail set while its password hash is still
   * `unclaimed`, and the invitation that claimed it used up, in one transaction; false when it was claimed already.
   */
  claimImportedAccount(user: User, memberId: string, unclaimed: string): Promise<boolean>;
  /**
   * A signed-in account claims what an import holds for an owner, with the claim link's invitation (once): the held
   * organization's keys (created by `into.userId` from now, at `into.tier`), refresh tokens, audit events and request
   * log move to `into.orgId`, and the held organization and its unclaimed account are deleted, in one transaction.
   * The number of keys moved, or null when the invitation was used (or the account claimed) before.
   */
  claimImportedKeys(
    held: { memberId: string; userId: string; orgId: string; unclaimed: string },
    into: { orgId: string; userId: string; tier: string },
  ): Promise<number | null>;
  /** A new invitation (token hash and expiry) on a member: how an imported account gets another claim link. */
  setMemberInvite(memberId: string, tokenHash: string, expiresAt: number): Promise<void>;
  findOrganization(id: string): Promise<Organization | undefined>;
  /** Every organization with its member count and its active keys (the one definition: {@link Store.countActiveKeys}). */
  listOrganizations(now: number): Promise<(Organization & { members: number; activeKeys: number })[]>;
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
  /** Members and invitations, oldest first; `page.limit` rows at most, after `page.after`. */
  listMembers(orgId: string, page: PageRequest): Promise<Member[]>;
  updateMemberRole(orgId: string, id: string, role: Role): Promise<void>;
  /** Joined admins of the organization other than `exceptMemberId`. */
  countOtherAdmins(orgId: string, exceptMemberId: string): Promise<number>;
  deleteMember(orgId: string, id: string): Promise<void>;

  insertSession(session: Session): Promise<void>;
  findSession(id: string): Promise<Session | undefined>;
  deleteSession(id: string): Promise<void>;
  deleteUserSessions(userId: string): Promise<void>;
  /** Deletes sessions that have expired and sign-in grants that expired more than a day ago. */
  pruneExpired(now: number): Promise<void>;

  /** Inserts a key and, for a child key, its place in the tree (its ancestors), in one transaction. */
  insertKey(key: ApiKey): Promise<void>;
  /**
   * The environments this server serves. Keys of any other environment are retired: not counted as active. Until
   * this is called every environment counts (a store used without a config, as in the storage contract).
   */
  serveEnvironments(names: readonly string[]): void;
  /** Keys that still work by time but belong to an environment not in `served`: per environment and prefix. */
  retiredKeys(served: readonly string[], now: number): Promise<{ environment: string; prefix: string; count: number }[]>;
  /**
   * Active keys of an organization: neither revoked nor expired at `now`, in a served environment. A key in its
   * rotation grace is active. The one definition of "active key": the plan's limit, the overview and
   * `keyward-server admin orgs` all use it.
   */
  countActiveKeys(orgId: string, now: number): Promise<number>;
  /** Active keys derived directly from `parentId` (at most `delegation.max_children`). */
  countActiveChildren(parentId: string, now: number): Promise<number>;
  /** Active keys derived from `rootId` at any depth, itself not counted (at most `delegation.max_descendants`). */
  countActiveDescendants(rootId: string, now: number): Promise<number>;
  /** `rootIds` and every key derived from any of them, at any depth. */
  subtreeKeyIds(rootIds: readonly string[]): Promise<string[]>;
  /** The organization's keys among `ids` (in no particular order). */
  listKeysByIds(orgId: string, ids: readonly string[]): Promise<ApiKey[]>;
  /** Keys derived directly from any of `parentIds`, oldest first (1,000 at most). */
  listChildren(orgId: string, parentIds: readonly string[]): Promise<ApiKey[]>;
  /** Sets a key's agent label; false when there is no such key. */
  updateKeyAgent(orgId: string, id: string, agent: string | null): Promise<boolean>;
  /** An organization at a glance, in one query: its active keys, and the requests its keys were allowed since `fromDay`. */
  orgOverview(orgId: string, now: number, fromDay: string): Promise<{ activeKeys: number; allowed: number }>;
  findKey(orgId: string, id: string): Promise<ApiKey | undefined>;
  findKeyForVerify(hash: string): Promise<KeyForVerify | undefined>;
  /** Keys, newest first; `page.limit` rows at most, after `page.after` (created_at, id). */
  listKeys(orgId: string, filter: { environment?: string }, page: PageRequest): Promise<ApiKey[]>;
  /**
   * An imported key's first use: keyward's HMAC replaces the hash it was imported with (only while it is still that
   * hash, so that racing first uses write it once), and its import reference is kept for re-imports.
   */
  rehashImported(id: string, hash: string, last4: string, importedHash: string, importRef: string): Promise<boolean>;
  /** Whether any key was imported: only then are keys of other formats looked up. */
  hasImportedKeys(): Promise<boolean>;
  /** Which of these hashes and import references are stored already (a re-import skips their keys). */
  findImported(hashes: readonly string[], refs: readonly string[]): Promise<Set<string>>;
  /** Inserts imported keys in one transaction, skipping any whose hash is stored; how many were inserted. */
  insertImportedKeys(keys: readonly ApiKey[]): Promise<number>;
  /**
   * Keys made by people (or imported; not derived ones), oldest first, with their creator's e-mail; `page.limit`
   * rows at most, after `page.after` (created_at, id).
   */
  exportKeys(orgId: string | undefined, page: PageRequest): Promise<{ key: ApiKey; ownerEmail: string }[]>;
  /** Revokes a key unless it is already revoked, and with it every key derived from it; false when it was. */
  revokeKey(id: string, at: number): Promise<boolean>;
  /** Records that a key was reported as found in public. */
  markLeaked(id: string, leak: LeakReport): Promise<void>;
  /**
   * Marks `oldId` as rotated to `successorId` with its new end (revocation or grace expiry), only while it is
   * still the live head of its lineage (not rotated, not revoked, not expired at `now`): false when another
   * rotation or a revocation got there first.
   */
  markRotated(
    oldId: string,
    successorId: string,
    end: { revokedAt: number | null; expiresAt: number | null },
    now: number,
  ): Promise<boolean>;
  /**
   * Ends the grace of every key of a lineage still in grace at `now` (rotated, not yet revoked or expired), except
   * `exceptId`: revoked at `now`. Returns their ids.
   */
  endGrace(lineageId: string, exceptId: string, now: number): Promise<string[]>;
  /** Ids of every key of a lineage, oldest first. */
  lineageKeyIds(lineageId: string): Promise<string[]>;
  /** Revokes, at `now`, every key a person made in an organization that still works (in grace too); their ids. */
  revokeKeysOfCreator(orgId: string, userId: string, now: number): Promise<string[]>;

  recordUsage(batch: UsageBatch): Promise<void>;
  /** Usage per key and day of one key or several, oldest day first. */
  dailyUsage(keyIds: string | readonly string[], fromDay: string, toDay: string): Promise<DailyUsage[]>;
  /** A key's request log, newest first. */
  recentRequests(keyId: string, page: PageRequest): Promise<RequestLogEntry[]>;
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

  insertClient(client: OAuthClient): Promise<void>;
  findClient(clientId: string): Promise<OAuthClient | undefined>;
  /** Registered clients, newest first. */
  listClients(page: PageRequest): Promise<OAuthClient[]>;
  /** Revokes a registration; false when there was none, or it was already revoked. */
  revokeClient(clientId: string, at: number): Promise<boolean>;
  insertRefreshToken(token: RefreshToken): Promise<void>;
  findRefreshToken(tokenHash: string): Promise<RefreshToken | undefined>;
  /** Marks an active refresh token used: true for exactly one caller. */
  useRefreshToken(id: string): Promise<boolean>;
  /** Revokes every refresh token of a family; returns the ids of the access keys they minted. */
  revokeRefreshFamily(familyId: string): Promise<string[]>;

  insertAudit(events: AuditEvent[]): Promise<void>;

  /**
   * Claims a dashboard form's one-time token for a session. True the first time; false when it was claimed before
   * (the same post sent again), in which case {@link Store.formResult} says where its result is.
   */
  claimForm(id: string, sessionId: string, expiresAt: number): Promise<boolean>;
  /** Where the first post of a form token led, once it has acted (null while it is still acting or it failed). */
  formResult(id: string, sessionId: string): Promise<FormResult | undefined>;
  /** Records what a claimed form did: where its result is, and a sealed secret to show once (or null). */
  completeForm(id: string, location: string, sealedSecret: string | null): Promise<void>;
  /** Gives up a claim whose action failed, so that the form can be sent again. */
  releaseForm(id: string): Promise<void>;
  /** The sealed secret of a form's result, once: it is erased as it is read. */
  takeFormSecret(id: string, sessionId: string): Promise<string | null>;
  /** Audit events, newest first. */
  listAudit(orgId: string, filter: AuditFilter, page: PageRequest): Promise<AuditEvent[]>;

  insertWebhook(webhook: Webhook): Promise<void>;
  /** An organization's webhooks, oldest first. */
  listWebhooks(orgId: string): Promise<Webhook[]>;
  findWebhook(orgId: string, id: string): Promise<Webhook | undefined>;
  /** Deletes a webhook and its deliveries; false when there was none. */
  deleteWebhook(orgId: string, id: string): Promise<boolean>;
  insertDeliveries(deliveries: WebhookDelivery[]): Promise<void>;
  /**
   * Pending deliveries due at `now`, shared fairly between organizations: every organization's oldest, then every
   * one's second, and so on (round-robin; oldest first within a round), at most `share.perOrganization` of one
   * organization and `share.perWebhook` of one webhook, none of the organizations and webhooks whose share is
   * busy. At most `limit` in all.
   */
  dueDeliveries(now: number, limit: number, share?: DeliveryShare): Promise<WebhookDelivery[]>;
  /**
   * Takes a due delivery for one try: moves its next attempt to `leaseUntil` if it is still `expectedNextAt`. True
   * for exactly one instance, so a try is never sent twice at once.
   */
  claimDelivery(id: string, expectedNextAt: number, leaseUntil: number): Promise<boolean>;
  /** Records a try: the attempts so far, the new status and when to try next (null: no more). */
  recordAttempt(
    id: string,
    attempts: WebhookDelivery['attempts'],
    status: WebhookDelivery['status'],
    nextAttemptAt: number | null,
  ): Promise<void>;
  /** A webhook's deliveries, newest first. */
  listDeliveries(orgId: string, webhookId: string, page: PageRequest): Promise<WebhookDelivery[]>;
  findDelivery(orgId: string, id: string): Promise<WebhookDelivery | undefined>;
  /** Makes a delivery pending again, due at `now` (send again). */
  redeliver(orgId: string, id: string, now: number): Promise<boolean>;
  /** Keys (of every organization) not revoked that expire after `from` and at or before `to`, at most 10,000. */
  keysExpiringBetween(from: number, to: number): Promise<ApiKey[]>;
  /** Remembers that a notice (`key.expiring` of one key, a quota threshold of one month…) went out: true only the first time. */
  noteOnce(id: string, at: number): Promise<boolean>;
}
