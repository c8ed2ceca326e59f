import { AsyncLocalStorage } from 'node:async_hooks';
import type { Role, Scope } from '@keyward/core';
import {
  type Expression,
  type ExpressionBuilder,
  type Kysely,
  Migrator,
  type RawBuilder,
  type Selectable,
  type SqlBool,
  sql,
} from 'kysely';
import type { Cursor, PageRequest } from '../pagination.js';
import { migrationProvider } from './migrations.js';
import type { Database } from './schema.js';
import type {
  ApiKey,
  AuditEvent,
  AuditFilter,
  AuthGrant,
  DailyUsage,
  DeliveryShare,
  KeyAncestor,
  KeyForVerify,
  LeakReport,
  Member,
  OAuthClient,
  Organization,
  RefreshToken,
  RequestLogEntry,
  Session,
  Store,
  UsageBatch,
  User,
  Webhook,
  WebhookDelivery,
} from './store.js';

type KeyRow = Selectable<Database['api_keys']>;
type DeliveryRow = Selectable<Database['webhook_deliveries']>;

function webhookFromRow(r: Selectable<Database['webhooks']>): Webhook {
  return {
    id: r.id,
    orgId: r.org_id,
    url: r.url,
    events: JSON.parse(r.events) as string[],
    sealedSecret: r.secret,
    createdAt: Number(r.created_at),
  };
}

function deliveryFromRow(r: DeliveryRow): WebhookDelivery {
  return {
    id: r.id,
    webhookId: r.webhook_id,
    orgId: r.org_id,
    eventType: r.event_type,
    payload: r.payload,
    status: r.status as WebhookDelivery['status'],
    attempts: JSON.parse(r.attempts) as WebhookDelivery['attempts'],
    nextAttemptAt: r.next_attempt_at === null ? null : Number(r.next_attempt_at),
    createdAt: Number(r.created_at),
  };
}
type MemberRow = Selectable<Database['members']>;

const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export function keyFromRow(r: KeyRow): ApiKey {
  return {
    id: r.id,
    orgId: r.org_id,
    createdBy: r.created_by,
    name: r.name,
    environment: r.environment,
    scope: r.scope,
    tier: r.tier,
    hash: r.hash,
    prefix: r.prefix,
    last4: r.last4,
    createdAt: num(r.created_at),
    expiresAt: numOrNull(r.expires_at),
    revokedAt: numOrNull(r.revoked_at),
    lastUsedAt: numOrNull(r.last_used_at),
    ipAllowlist: parseList(r.ip_allowlist),
    metadata: parseObject(r.metadata),
    rotatedFrom: r.rotated_from,
    rotatedTo: r.rotated_to,
    lineageId: r.lineage_id ?? r.id,
    leak: r.leak ? (JSON.parse(r.leak) as LeakReport) : null,
    parentId: r.parent_id,
    depth: num(r.depth),
    agent: r.agent,
    budget: numOrNull(r.budget),
    requestsPerMinute: numOrNull(r.requests_per_minute),
    monthlyRequests: numOrNull(r.monthly_requests),
    resource: r.resource,
    importedFrom: r.imported_from,
  };
}

/** A key as its row, without the columns only some keys have (ancestry, import reference). */
export function keyRow(key: ApiKey) {
  return {
    id: key.id,
    org_id: key.orgId,
    created_by: key.createdBy,
    name: key.name,
    environment: key.environment,
    scope: key.scope,
    tier: key.tier,
    hash: key.hash,
    prefix: key.prefix,
    last4: key.last4,
    created_at: key.createdAt,
    expires_at: key.expiresAt,
    revoked_at: key.revokedAt,
    last_used_at: key.lastUsedAt,
    ip_allowlist: JSON.stringify(key.ipAllowlist),
    metadata: JSON.stringify(key.metadata),
    rotated_from: key.rotatedFrom,
    rotated_to: key.rotatedTo,
    lineage_id: key.lineageId,
    leak: key.leak ? JSON.stringify(key.leak) : null,
    parent_id: key.parentId,
    depth: key.depth,
    agent: key.agent,
    budget: key.budget,
    requests_per_minute: key.requestsPerMinute,
    monthly_requests: key.monthlyRequests,
    resource: key.resource,
    imported_from: key.importedFrom,
  };
}

/** The one definition of an active key, as SQL: neither revoked nor expired at `now`. */
function isActive(eb: ExpressionBuilder<Database, 'api_keys'>, now: number): Expression<SqlBool> {
  return eb.and([
    eb('api_keys.revoked_at', 'is', null),
    eb.or([eb('api_keys.expires_at', 'is', null), eb('api_keys.expires_at', '>', now)]),
  ]);
}

/**
 * Keyset paging: the rows after `cursor` in (`column`, id) order, `(column, id) > (at, id)` going up and `<` going
 * down. One row-value comparison, the same on SQLite and PostgreSQL, instead of an `or` written out per list.
 */
function afterCursor(column: 'created_at' | 'at', cursor: Cursor, order: 'asc' | 'desc'): RawBuilder<SqlBool> {
  return sql<SqlBool>`(${sql.ref(column)}, id) ${sql.raw(order === 'asc' ? '>' : '<')} (${cursor.at}, ${cursor.id})`;
}

function memberFromRow(r: MemberRow): Member {
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

function memberToRow(m: Member): MemberRow {
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

/**
 * The verify look-up, shared with the SQLite fast path: only the columns a decision needs, with the creator's
 * current role and the organization's plan joined in. A key's place in a tree and its own caps come as one column,
 * `tree`, null for the plain keys most are: every column read is time on the hot path (seven separate ones made
 * SQLite's look-up a fifth slower).
 */
export const VERIFY_SQL = `SELECT k.id, k.org_id, k.created_by, k.name, k.environment, k.scope, k.tier, k.prefix, k.expires_at,
  k.revoked_at, k.ip_allowlist, k.metadata, k.lineage_id, m.role AS creator_role, o.plan AS org_plan, o.name AS org_name,
  CASE WHEN k.parent_id IS NULL AND k.agent IS NULL AND k.budget IS NULL AND k.requests_per_minute IS NULL
    AND k.monthly_requests IS NULL AND k.resource IS NULL THEN NULL
  ELSE json_array(k.parent_id, k.agent, k.budget, k.requests_per_minute, k.monthly_requests, k.resource, k.ancestry) END AS tree
  FROM api_keys k
  JOIN organizations o ON o.id = k.org_id
  LEFT JOIN members m ON m.org_id = k.org_id AND m.user_id = k.created_by
  WHERE k.hash = `;

/** The verify look-up in a dialect: its JSON array function is SQLite's `json_array`, PostgreSQL's `json_build_array`. */
export function verifySql(dialect: 'sqlite' | 'postgres'): string {
  return dialect === 'sqlite' ? VERIFY_SQL : VERIFY_SQL.replace('json_array(', 'json_build_array(');
}

export interface VerifyRow {
  id: string;
  org_id: string;
  created_by: string;
  name: string;
  environment: string;
  scope: Scope;
  tier: string;
  prefix: string;
  expires_at: number | string | null;
  revoked_at: number | string | null;
  ip_allowlist: string;
  metadata: string;
  lineage_id: string | null;
  creator_role: Role | null;
  org_plan: string;
  org_name: string;
  /** `[parent_id, agent, budget, requests_per_minute, monthly_requests, resource, ancestry]`, as JSON (text or parsed). */
  tree: string | unknown[] | null;
}

type TreeColumns = [string | null, string | null, number | null, number | null, number | null, string | null, string | null];
const PLAIN: TreeColumns = [null, null, null, null, null, null, null];

/** `[]` and `{}` are what almost every key stores: skip the parser for them. */
const parseList = (text: string): string[] => (text === '[]' ? [] : (JSON.parse(text) as string[]));
const parseObject = (text: string): Record<string, unknown> => (text === '{}' ? {} : (JSON.parse(text) as Record<string, unknown>));

export function keyForVerifyFromRow(r: VerifyRow): KeyForVerify {
  const [parentId, agent, budget, requestsPerMinute, monthlyRequests, resource, ancestry] =
    r.tree === null ? PLAIN : ((typeof r.tree === 'string' ? JSON.parse(r.tree) : r.tree) as TreeColumns);
  return {
    id: r.id,
    orgId: r.org_id,
    createdBy: r.created_by,
    name: r.name,
    environment: r.environment,
    scope: r.scope,
    tier: r.tier,
    prefix: r.prefix,
    expiresAt: numOrNull(r.expires_at),
    revokedAt: numOrNull(r.revoked_at),
    ipAllowlist: parseList(r.ip_allowlist),
    metadata: parseObject(r.metadata),
    lineageId: r.lineage_id ?? r.id,
    parentId,
    agent,
    budget: numOrNull(budget),
    requestsPerMinute: numOrNull(requestsPerMinute),
    monthlyRequests: numOrNull(monthlyRequests),
    resource,
    creatorRole: r.creator_role,
    orgPlan: r.org_plan,
    orgName: r.org_name,
    ancestors: ancestry === null ? [] : (JSON.parse(ancestry) as KeyAncestor[]),
  };
}

function grantFromRow(r: Selectable<Database['auth_grants']>): AuthGrant {
  return {
    id: r.id,
    kind: r.kind,
    codeHash: r.code_hash,
    userCode: r.user_code,
    status: r.status,
    userId: r.user_id,
    orgId: r.org_id,
    environment: r.environment,
    name: r.name,
    scope: r.scope,
    clientId: r.client_id,
    codeChallenge: r.code_challenge,
    redirectUri: r.redirect_uri,
    pollInterval: num(r.poll_interval),
    lastPolledAt: numOrNull(r.last_polled_at),
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
    resource: r.resource,
    offline: num(r.offline) === 1,
  };
}

function refreshFromRow(r: Selectable<Database['refresh_tokens']>): RefreshToken {
  return {
    id: r.id,
    familyId: r.family_id,
    tokenHash: r.token_hash,
    clientId: r.client_id,
    userId: r.user_id,
    orgId: r.org_id,
    environment: r.environment,
    name: r.name,
    scope: r.scope,
    resource: r.resource,
    keyId: r.key_id,
    status: r.status,
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
  };
}

function clientFromRow(r: Selectable<Database['oauth_clients']>): OAuthClient {
  return {
    clientId: r.client_id,
    name: r.name,
    redirectUris: JSON.parse(r.redirect_uris) as string[],
    grantTypes: JSON.parse(r.grant_types) as string[],
    createdAt: num(r.created_at),
    createdIp: r.created_ip,
    revokedAt: numOrNull(r.revoked_at),
  };
}

/** Storage over Kysely: the same queries for SQLite and PostgreSQL. */
export class KyselyStore implements Store {
  /** The transaction the current async call chain runs in, if any: every query below joins it. */
  readonly #tx = new AsyncLocalStorage<Kysely<Database>>();

  #served: readonly string[] | null = null;

  constructor(
    readonly root: Kysely<Database>,
    readonly dialect: 'sqlite' | 'postgres',
  ) {}

  serveEnvironments(names: readonly string[]): void {
    this.#served = [...names];
  }

  /** Active, made by a person (child keys do not count), and in a served environment: what counts towards a plan. */
  #counted(eb: ExpressionBuilder<Database, 'api_keys'>, now: number): Expression<SqlBool> {
    const served = this.#served;
    const own = eb.and([isActive(eb, now), eb('api_keys.parent_id', 'is', null)]);
    return served ? eb.and([own, eb('api_keys.environment', 'in', served)]) : own;
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

  /** The connection to query with: the ambient transaction's, else the pool. */
  get db(): Kysely<Database> {
    return this.#tx.getStore() ?? this.root;
  }

  transaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#tx.getStore()) return fn();
    return this.root.transaction().execute((trx) => this.#tx.run(trx, fn));
  }

  async lockOrganization(orgId: string): Promise<void> {
    if (!this.#tx.getStore()) throw new Error('lockOrganization() needs a transaction');
    // SQLite runs one transaction at a time on its one connection; PostgreSQL needs the row lock.
    if (this.dialect === 'postgres') await this.db.selectFrom('organizations').select('id').where('id', '=', orgId).forUpdate().execute();
  }

  async migrate(): Promise<void> {
    const { error, results } = await new Migrator({ db: this.db, provider: migrationProvider }).migrateToLatest();
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName;
      throw new Error(`database migration ${failed ?? ''} failed: ${(error as Error).message ?? error}`);
    }
  }

  async close(): Promise<void> {
    await this.root.destroy();
  }

  async createAccount({ user, organization, member }: { user: User; organization?: Organization; member: Member }) {
    await this.transaction(async () => {
      const trx = this.db;
      await trx
        .insertInto('users')
        .values({ id: user.id, email: user.email, name: user.name, password_hash: user.passwordHash, created_at: user.createdAt })
        .execute();
      if (organization) {
        await trx
          .insertInto('organizations')
          .values({ id: organization.id, name: organization.name, plan: organization.plan, created_at: organization.createdAt })
          .execute();
      }
      const row = memberToRow(member);
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
    return r && { id: r.id, email: r.email, name: r.name, passwordHash: r.password_hash, createdAt: num(r.created_at) };
  }

  async claimImportedAccount(user: User, memberId: string, unclaimed: string) {
    return this.transaction(async () => {
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

  async claimImportedKeys(
    held: { memberId: string; userId: string; orgId: string; unclaimed: string },
    into: { orgId: string; userId: string; tier: string },
  ) {
    return this.transaction(async () => {
      const db = this.db;
      // The invitation is used up first: of two claims at once, one updates it and the other finds nothing.
      const used = await db
        .updateTable('members')
        .set({ invite_token_hash: null, invite_expires_at: null })
        .where('id', '=', held.memberId)
        .where('org_id', '=', held.orgId)
        .where('user_id', '=', held.userId)
        .where('invite_token_hash', 'is not', null)
        .executeTakeFirst();
      const account = await db.selectFrom('users').select('password_hash').where('id', '=', held.userId).executeTakeFirst();
      if (Number(used.numUpdatedRows) !== 1 || account?.password_hash !== held.unclaimed) return null;
      const moved = await db
        .updateTable('api_keys')
        .set({ org_id: into.orgId, created_by: into.userId, tier: into.tier })
        .where('org_id', '=', held.orgId)
        .executeTakeFirst();
      await db.updateTable('refresh_tokens').set({ org_id: into.orgId, user_id: into.userId }).where('org_id', '=', held.orgId).execute();
      await db.updateTable('audit_events').set({ org_id: into.orgId }).where('org_id', '=', held.orgId).execute();
      await db.updateTable('request_log').set({ org_id: into.orgId }).where('org_id', '=', held.orgId).execute();
      await db.deleteFrom('sessions').where('user_id', '=', held.userId).execute();
      await db.deleteFrom('members').where('org_id', '=', held.orgId).execute();
      await db.deleteFrom('users').where('id', '=', held.userId).execute();
      await db.deleteFrom('organizations').where('id', '=', held.orgId).execute();
      return Number(moved.numUpdatedRows);
    });
  }

  async setMemberInvite(memberId: string, tokenHash: string, expiresAt: number) {
    await this.db
      .updateTable('members')
      .set({ invite_token_hash: tokenHash, invite_expires_at: expiresAt })
      .where('id', '=', memberId)
      .execute();
  }

  async findUser(id: string) {
    const r = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return r && { id: r.id, email: r.email, name: r.name, passwordHash: r.password_hash, createdAt: num(r.created_at) };
  }

  async findOrganization(id: string) {
    const r = await this.db.selectFrom('organizations').selectAll().where('id', '=', id).executeTakeFirst();
    return r && { id: r.id, name: r.name, plan: r.plan, createdAt: num(r.created_at) };
  }

  async listOrganizations(now: number) {
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
          .where((e) => this.#counted(e, now))
          .as('active_keys'),
      ])
      .orderBy('o.created_at')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      plan: r.plan,
      createdAt: num(r.created_at),
      members: num(r.members),
      activeKeys: num(r.active_keys),
    }));
  }

  async setOrganizationPlan(orgId: string, plan: string) {
    return this.transaction(async () => {
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
    await this.transaction(async () => {
      const trx = this.db;
      const m = await trx.selectFrom('members').select('user_id').where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
      if (m?.user_id) await trx.deleteFrom('sessions').where('user_id', '=', m.user_id).where('org_id', '=', orgId).execute();
      await trx.deleteFrom('members').where('org_id', '=', orgId).where('id', '=', id).execute();
    });
  }

  async insertSession(s: Session) {
    await this.db
      .insertInto('sessions')
      .values({ id: s.id, user_id: s.userId, org_id: s.orgId, created_at: s.createdAt, expires_at: s.expiresAt })
      .execute();
  }

  async findSession(id: string) {
    const r = await this.db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
    return r && { id: r.id, userId: r.user_id, orgId: r.org_id, createdAt: num(r.created_at), expiresAt: num(r.expires_at) };
  }

  async deleteSession(id: string) {
    await this.db.deleteFrom('sessions').where('id', '=', id).execute();
  }

  async deleteUserSessions(userId: string) {
    await this.db.deleteFrom('sessions').where('user_id', '=', userId).execute();
  }

  async pruneExpired(now: number) {
    await this.db.deleteFrom('sessions').where('expires_at', '<=', now).execute();
    await this.db
      .deleteFrom('auth_grants')
      .where('expires_at', '<=', now - 86_400_000)
      .execute();
    await this.db.deleteFrom('form_tokens').where('expires_at', '<=', now).execute();
  }

  insertKey(key: ApiKey) {
    return this.transaction(() => this.#insertKey(key));
  }

  async #insertKey(key: ApiKey) {
    await this.db
      .insertInto('api_keys')
      .values({ ...keyRow(key), ancestry: await this.#ancestryOf(key) })
      .execute();
    if (key.parentId !== null) {
      // The closure: the parent at distance 1, and each of the parent's ancestors one step further away.
      await sql`INSERT INTO key_ancestors (key_id, ancestor_id, distance)
        SELECT ${key.id}, ${key.parentId}, 1
        UNION ALL SELECT ${key.id}, ancestor_id, distance + 1 FROM key_ancestors WHERE key_id = ${key.parentId}`.execute(this.db);
    }
  }

  /** What a child key keeps of its ancestors for the verify path (see KeyAncestor); null for a key made by a person. */
  async #ancestryOf(key: ApiKey): Promise<string | null> {
    if (key.parentId === null) return null;
    const parent = await this.db
      .selectFrom('api_keys')
      .select(['id', 'lineage_id', 'budget', 'requests_per_minute', 'monthly_requests', 'ip_allowlist', 'ancestry'])
      .where('id', '=', key.parentId)
      .executeTakeFirstOrThrow();
    const above: KeyAncestor[] = parent.ancestry === null ? [] : (JSON.parse(parent.ancestry) as KeyAncestor[]);
    const facts: KeyAncestor = {
      id: parent.id,
      lineageId: parent.lineage_id ?? parent.id,
      budget: numOrNull(parent.budget),
      requestsPerMinute: numOrNull(parent.requests_per_minute),
      monthlyRequests: numOrNull(parent.monthly_requests),
      ipAllowlist: parseList(parent.ip_allowlist),
    };
    return JSON.stringify([facts, ...above]);
  }

  async rehashImported(id: string, hash: string, last4: string, importedHash: string, importRef: string) {
    const r = await this.db
      .updateTable('api_keys')
      .set({ hash, last4, import_ref: importRef })
      .where('id', '=', id)
      .where('hash', '=', importedHash)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async hasImportedKeys() {
    const r = await this.db.selectFrom('api_keys').select('id').where('imported_from', 'is not', null).limit(1).executeTakeFirst();
    return r !== undefined;
  }

  async findImported(hashes: readonly string[], refs: readonly string[]) {
    // Two look-ups, one per index, rather than one with an OR that a planner without statistics may answer with a
    // scan of the whole table (PostgreSQL did, on a fresh table).
    const out = new Set<string>();
    for (let i = 0; i < hashes.length; i += 5000) {
      const rows = await this.db
        .selectFrom('api_keys')
        .select('hash')
        .where('hash', 'in', hashes.slice(i, i + 5000))
        .execute();
      for (const row of rows) out.add(row.hash);
    }
    for (let i = 0; i < refs.length; i += 5000) {
      const rows = await this.db
        .selectFrom('api_keys')
        .select('import_ref')
        .where('import_ref', 'in', refs.slice(i, i + 5000))
        .execute();
      for (const row of rows) if (row.import_ref) out.add(row.import_ref);
    }
    return out;
  }

  async insertImportedKeys(keys: readonly ApiKey[]) {
    let inserted = 0;
    await this.transaction(async () => {
      // 1,000 rows of 28 columns a statement: well under PostgreSQL's 65,535 parameters.
      for (let i = 0; i < keys.length; i += 1000) {
        const r = await this.db
          .insertInto('api_keys')
          .values(keys.slice(i, i + 1000).map(keyRow))
          .onConflict((oc) => oc.doNothing())
          .executeTakeFirst();
        inserted += Number(r.numInsertedOrUpdatedRows ?? 0);
      }
    });
    return inserted;
  }

  async exportKeys(orgId: string | undefined, page: PageRequest) {
    let q = this.db
      .selectFrom('api_keys')
      .selectAll('api_keys')
      .select((eb) => eb.selectFrom('users').select('users.email').whereRef('users.id', '=', 'api_keys.created_by').as('owner_email'))
      .where('parent_id', 'is', null);
    if (orgId) q = q.where('org_id', '=', orgId);
    if (page.after) q = q.where(afterCursor('created_at', page.after, 'asc'));
    const rows = await q.orderBy('created_at').orderBy('id').limit(page.limit).execute();
    return rows.map((r) => ({ key: keyFromRow(r), ownerEmail: r.owner_email ?? '' }));
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

  async updateKeyAgent(orgId: string, id: string, agent: string | null) {
    const r = await this.db.updateTable('api_keys').set({ agent }).where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /**
   * Revokes at `at` every key below `ids` that still has no revocation (a subtree goes with its root), and ends the
   * grant families of `ids` and of that subtree: every revocation passes here, so this is where it reaches refresh
   * tokens.
   */
  async #revokeDescendants(ids: readonly string[], at: number): Promise<void> {
    if (ids.length === 0) return;
    await this.#endRefreshFamilies(ids);
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

  /**
   * A revocation ends everything that could mint the key again: every refresh token of a family whose live token
   * was issued with one of `ids` or a key below them. A family whose live token came with a newer key (a refresh
   * retiring the key it replaced) goes on, and a replayed token is still caught, as its status stays `used`.
   */
  async #endRefreshFamilies(ids: readonly string[]): Promise<void> {
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
              w('live.key_id', 'in', [...ids]),
              w(
                'live.key_id',
                'in',
                w
                  .selectFrom('key_ancestors')
                  .select('key_ancestors.key_id')
                  .where('key_ancestors.ancestor_id', 'in', [...ids]),
              ),
            ]),
          ),
      )
      .execute();
  }

  /** The count of an organization's active keys, as a query: run alone, or a column of a larger one. */
  #activeKeyCount(orgId: string, now: number) {
    return this.db
      .selectFrom('api_keys')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('api_keys.org_id', '=', orgId)
      .where((eb) => this.#counted(eb, now));
  }

  async countActiveKeys(orgId: string, now: number) {
    return num((await this.#activeKeyCount(orgId, now).executeTakeFirstOrThrow()).n);
  }

  async findKey(orgId: string, id: string) {
    const r = await this.db.selectFrom('api_keys').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
    return r && keyFromRow(r);
  }

  async findKeyForVerify(hash: string): Promise<KeyForVerify | undefined> {
    const { rows } = await sql<VerifyRow>`${sql.raw(verifySql(this.dialect))}${hash}`.execute(this.db);
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

  async orgOverview(orgId: string, now: number, fromDay: string) {
    const row = await this.db
      .selectNoFrom((eb) => [
        this.#activeKeyCount(orgId, now).as('active_keys'),
        eb
          .selectFrom('usage_daily')
          .innerJoin('api_keys', 'api_keys.id', 'usage_daily.key_id')
          .select((e) => e.fn.coalesce(e.fn.sum<number>('usage_daily.allowed'), e.lit(0)).as('n'))
          .where('api_keys.org_id', '=', orgId)
          .where('usage_daily.day', '>=', fromDay)
          .as('allowed'),
      ])
      .executeTakeFirstOrThrow();
    return { activeKeys: num(row.active_keys), allowed: num(row.allowed) };
  }

  async markLeaked(id: string, leak: LeakReport) {
    await this.db
      .updateTable('api_keys')
      .set({ leak: JSON.stringify(leak) })
      .where('id', '=', id)
      .execute();
  }

  async revokeKey(id: string, at: number) {
    const r = await this.db
      .updateTable('api_keys')
      .set({ revoked_at: at })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) return false;
    await this.#revokeDescendants([id], at);
    return true;
  }

  async markRotated(oldId: string, successorId: string, end: { revokedAt: number | null; expiresAt: number | null }, now: number) {
    const r = await this.db
      .updateTable('api_keys')
      .set({ rotated_to: successorId, revoked_at: end.revokedAt, expires_at: end.expiresAt })
      .where('id', '=', oldId)
      .where('rotated_to', 'is', null)
      .where((eb) => isActive(eb, now))
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) return false;
    // Its children never outlive it: revoked with it, or ending when its grace ends.
    if (end.revokedAt !== null) await this.#revokeDescendants([oldId], end.revokedAt);
    else if (end.expiresAt !== null) {
      const until = end.expiresAt;
      await this.db
        .updateTable('api_keys')
        .set({ expires_at: until })
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', until)]))
        .where('id', 'in', (eb) => eb.selectFrom('key_ancestors').select('key_id').where('ancestor_id', '=', oldId))
        .execute();
    }
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
      await this.#revokeDescendants(ids, now);
    }
    return ids;
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

  async recordUsage(batch: UsageBatch) {
    if (batch.daily.length + batch.lastUsed.length + batch.requests.length === 0) return;
    await this.transaction(async () => {
      const trx = this.db;
      for (const d of batch.daily) {
        await trx
          .insertInto('usage_daily')
          .values({ key_id: d.keyId, day: d.day, allowed: d.allowed, denied: d.denied, credits: d.credits })
          .onConflict((oc) =>
            oc.columns(['key_id', 'day']).doUpdateSet({
              allowed: sql`usage_daily.allowed + ${d.allowed}`,
              denied: sql`usage_daily.denied + ${d.denied}`,
              credits: sql`usage_daily.credits + ${d.credits}`,
            }),
          )
          .execute();
      }
      for (const u of batch.lastUsed) {
        await trx
          .updateTable('api_keys')
          .set({ last_used_at: u.at })
          .where('id', '=', u.keyId)
          .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', u.at)]))
          .execute();
      }
      for (let i = 0; i < batch.requests.length; i += 200) {
        await trx
          .insertInto('request_log')
          .values(
            batch.requests.slice(i, i + 200).map((r) => ({
              id: r.id,
              key_id: r.keyId,
              org_id: r.orgId,
              method: r.method,
              path: r.path,
              status: r.status,
              ip: r.ip,
              at: r.at,
            })),
          )
          .execute();
      }
    });
  }

  async dailyUsage(keyIds: string | readonly string[], fromDay: string, toDay: string) {
    const ids = typeof keyIds === 'string' ? [keyIds] : [...keyIds];
    const out: DailyUsage[] = [];
    // In slices: a tree can hold more keys than one statement takes parameters.
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await this.db
        .selectFrom('usage_daily')
        .selectAll()
        .where('key_id', 'in', ids.slice(i, i + 500))
        .where('day', '>=', fromDay)
        .where('day', '<=', toDay)
        .orderBy('day')
        .execute();
      for (const r of rows)
        out.push({ keyId: r.key_id, day: r.day, allowed: num(r.allowed), denied: num(r.denied), credits: num(r.credits) });
    }
    return out.sort((a, b) => a.day.localeCompare(b.day));
  }

  async recentRequests(keyId: string, page: PageRequest) {
    let q = this.db.selectFrom('request_log').selectAll().where('key_id', '=', keyId);
    const after = page.after;
    if (after) q = q.where(afterCursor('at', after, 'desc'));
    const rows = await q.orderBy('at', 'desc').orderBy('id', 'desc').limit(page.limit).execute();
    return rows.map(
      (r): RequestLogEntry => ({
        id: r.id,
        keyId: r.key_id,
        orgId: r.org_id,
        method: r.method,
        path: r.path,
        status: num(r.status),
        ip: r.ip,
        at: num(r.at),
      }),
    );
  }

  async pruneRequestLog(olderThan: number, keepRows: number) {
    await this.db.deleteFrom('request_log').where('at', '<', olderThan).execute();
    const cutoff = await this.db.selectFrom('request_log').select('at').orderBy('at', 'desc').offset(keepRows).limit(1).executeTakeFirst();
    if (cutoff) await this.db.deleteFrom('request_log').where('at', '<=', num(cutoff.at)).execute();
  }

  async insertGrant(g: AuthGrant) {
    await this.db
      .insertInto('auth_grants')
      .values({
        id: g.id,
        kind: g.kind,
        code_hash: g.codeHash,
        user_code: g.userCode,
        status: g.status,
        user_id: g.userId,
        org_id: g.orgId,
        environment: g.environment,
        name: g.name,
        scope: g.scope,
        client_id: g.clientId,
        code_challenge: g.codeChallenge,
        redirect_uri: g.redirectUri,
        poll_interval: g.pollInterval,
        last_polled_at: g.lastPolledAt,
        created_at: g.createdAt,
        expires_at: g.expiresAt,
        resource: g.resource,
        offline: g.offline ? 1 : 0,
      })
      .execute();
  }

  async insertClient(c: OAuthClient) {
    await this.db
      .insertInto('oauth_clients')
      .values({
        client_id: c.clientId,
        name: c.name,
        redirect_uris: JSON.stringify(c.redirectUris),
        grant_types: JSON.stringify(c.grantTypes),
        created_at: c.createdAt,
        created_ip: c.createdIp,
        revoked_at: c.revokedAt,
      })
      .execute();
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
    await this.db
      .insertInto('refresh_tokens')
      .values({
        id: t.id,
        family_id: t.familyId,
        token_hash: t.tokenHash,
        client_id: t.clientId,
        user_id: t.userId,
        org_id: t.orgId,
        environment: t.environment,
        name: t.name,
        scope: t.scope,
        resource: t.resource,
        key_id: t.keyId,
        status: t.status,
        created_at: t.createdAt,
        expires_at: t.expiresAt,
      })
      .execute();
  }

  async findRefreshToken(tokenHash: string) {
    const r = await this.db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
    return r && refreshFromRow(r);
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

  async insertAudit(events: AuditEvent[]) {
    if (events.length === 0) return;
    await this.db
      .insertInto('audit_events')
      .values(
        events.map((e) => ({
          id: e.id,
          org_id: e.orgId,
          actor_type: e.actorType,
          actor_id: e.actorId,
          action: e.action,
          key_id: e.keyId,
          data: JSON.stringify(e.data),
          at: e.at,
        })),
      )
      .execute();
  }

  async listAudit(orgId: string, filter: AuditFilter, page: PageRequest) {
    let q = this.db.selectFrom('audit_events').selectAll().where('org_id', '=', orgId);
    if (filter.keyId) q = q.where('key_id', '=', filter.keyId);
    // By agent or by key tree: events about one of those keys, or done by one of them.
    const { agent, keyTree } = filter;
    if (agent !== undefined || keyTree !== undefined) {
      const keys = (eb: ExpressionBuilder<Database, 'audit_events'>) => {
        let k = eb.selectFrom('api_keys').select('api_keys.id').where('api_keys.org_id', '=', orgId);
        if (agent !== undefined) k = k.where('api_keys.agent', '=', agent);
        if (keyTree !== undefined)
          k = k.where((e) =>
            e.or([
              e('api_keys.id', '=', keyTree),
              e('api_keys.id', 'in', e.selectFrom('key_ancestors').select('key_id').where('ancestor_id', '=', keyTree)),
            ]),
          );
        return k;
      };
      q = q.where((eb) => eb.or([eb('key_id', 'in', keys(eb)), eb.and([eb('actor_type', '=', 'key'), eb('actor_id', 'in', keys(eb))])]));
    }
    if (filter.before) q = q.where('at', '<', filter.before);
    const after = page.after;
    if (after) q = q.where(afterCursor('at', after, 'desc'));
    const rows = await q.orderBy('at', 'desc').orderBy('id', 'desc').limit(page.limit).execute();
    return rows.map(
      (r): AuditEvent => ({
        id: r.id,
        orgId: r.org_id,
        actorType: r.actor_type as AuditEvent['actorType'],
        actorId: r.actor_id,
        action: r.action,
        keyId: r.key_id,
        data: JSON.parse(r.data) as Record<string, unknown>,
        at: num(r.at),
      }),
    );
  }

  async claimForm(id: string, sessionId: string, expiresAt: number) {
    const r = await this.db
      .insertInto('form_tokens')
      .values({ id, session_id: sessionId, location: null, secret: null, expires_at: expiresAt })
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async formResult(id: string, sessionId: string) {
    const r = await this.db
      .selectFrom('form_tokens')
      .select('location')
      .where('id', '=', id)
      .where('session_id', '=', sessionId)
      .executeTakeFirst();
    return r && { location: r.location };
  }

  async completeForm(id: string, location: string, sealedSecret: string | null) {
    await this.db.updateTable('form_tokens').set({ location, secret: sealedSecret }).where('id', '=', id).execute();
  }

  async releaseForm(id: string) {
    await this.db.deleteFrom('form_tokens').where('id', '=', id).where('location', 'is', null).execute();
  }

  async takeFormSecret(id: string, sessionId: string) {
    // Read and erase under the row's lock, so two tabs cannot both be shown the secret.
    return this.transaction(async () => {
      let q = this.db.selectFrom('form_tokens').select('secret').where('id', '=', id).where('session_id', '=', sessionId);
      if (this.dialect === 'postgres') q = q.forUpdate();
      const row = await q.executeTakeFirst();
      if (!row?.secret) return null;
      await this.db.updateTable('form_tokens').set({ secret: null }).where('id', '=', id).execute();
      return row.secret;
    });
  }

  async insertWebhook(w: Webhook) {
    await this.db
      .insertInto('webhooks')
      .values({ id: w.id, org_id: w.orgId, url: w.url, events: JSON.stringify(w.events), secret: w.sealedSecret, created_at: w.createdAt })
      .execute();
  }

  async listWebhooks(orgId: string) {
    const rows = await this.db.selectFrom('webhooks').selectAll().where('org_id', '=', orgId).orderBy('created_at').orderBy('id').execute();
    return rows.map(webhookFromRow);
  }

  async findWebhook(orgId: string, id: string) {
    const r = await this.db.selectFrom('webhooks').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
    return r && webhookFromRow(r);
  }

  async deleteWebhook(orgId: string, id: string) {
    return this.transaction(async () => {
      const r = await this.db.deleteFrom('webhooks').where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
      await this.db.deleteFrom('webhook_deliveries').where('org_id', '=', orgId).where('webhook_id', '=', id).execute();
      return Number(r.numDeletedRows) > 0;
    });
  }

  async insertDeliveries(deliveries: WebhookDelivery[]) {
    if (deliveries.length === 0) return;
    await this.db
      .insertInto('webhook_deliveries')
      .values(
        deliveries.map((d) => ({
          id: d.id,
          webhook_id: d.webhookId,
          org_id: d.orgId,
          event_type: d.eventType,
          payload: d.payload,
          status: d.status,
          attempts: JSON.stringify(d.attempts),
          next_attempt_at: d.nextAttemptAt,
          created_at: d.createdAt,
        })),
      )
      .execute();
  }

  async dueDeliveries(now: number, limit: number, share: DeliveryShare = { perOrganization: limit, perWebhook: limit }) {
    // Each due delivery's turn within its organization and within its webhook; the answer takes every
    // organization's first turn before anyone's second, so one organization's backlog never crowds out another's.
    let due = this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .select([
        sql<number>`row_number() over (partition by org_id order by next_attempt_at, id)`.as('org_turn'),
        sql<number>`row_number() over (partition by webhook_id order by next_attempt_at, id)`.as('hook_turn'),
      ])
      .where('status', '=', 'pending')
      .where('next_attempt_at', '<=', now);
    if (share.skipOrganizations?.length) due = due.where('org_id', 'not in', share.skipOrganizations);
    if (share.skipWebhooks?.length) due = due.where('webhook_id', 'not in', share.skipWebhooks);
    const rows = await this.db
      .selectFrom(due.as('due'))
      .selectAll()
      .where('org_turn', '<=', share.perOrganization)
      .where('hook_turn', '<=', share.perWebhook)
      .orderBy('org_turn')
      .orderBy('next_attempt_at')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(deliveryFromRow);
  }

  async claimDelivery(id: string, expectedNextAt: number, leaseUntil: number) {
    const r = await this.db
      .updateTable('webhook_deliveries')
      .set({ next_attempt_at: leaseUntil })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .where('next_attempt_at', '=', expectedNextAt)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async recordAttempt(id: string, attempts: WebhookDelivery['attempts'], status: WebhookDelivery['status'], nextAttemptAt: number | null) {
    await this.db
      .updateTable('webhook_deliveries')
      .set({ attempts: JSON.stringify(attempts), status, next_attempt_at: nextAttemptAt })
      .where('id', '=', id)
      .execute();
  }

  async listDeliveries(orgId: string, webhookId: string, page: PageRequest) {
    let q = this.db.selectFrom('webhook_deliveries').selectAll().where('org_id', '=', orgId).where('webhook_id', '=', webhookId);
    if (page.after) q = q.where(afterCursor('created_at', page.after, 'desc'));
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).execute();
    return rows.map(deliveryFromRow);
  }

  async findDelivery(orgId: string, id: string) {
    const r = await this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('id', '=', id)
      .executeTakeFirst();
    return r && deliveryFromRow(r);
  }

  async redeliver(orgId: string, id: string, now: number) {
    const r = await this.db
      .updateTable('webhook_deliveries')
      .set({ status: 'pending', next_attempt_at: now })
      .where('org_id', '=', orgId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async noteOnce(id: string, at: number) {
    const r = await this.db
      .insertInto('webhook_notices')
      .values({ id, at })
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
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
}
