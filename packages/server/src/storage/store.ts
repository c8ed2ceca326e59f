import type { AccountStore } from './accounts/account-store.js';
import type { AuditStore } from './audit/audit-store.js';
import type { FormStore } from './forms/form-store.js';
import type { GrantStore } from './grants/grant-store.js';
import type { ImportStore } from './imports/import-store.js';
import type { KeyStore } from './keys/key-store.js';
import type { ScopeRequestStore } from './scope-requests/scope-request-store.js';
import type { UsageStore } from './usage/usage-store.js';
import type { WebhookStore } from './webhooks/webhook-store.js';

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
  ScopeRequest,
  Session,
  UsageBatch,
  User,
  Webhook,
  WebhookDelivery,
} from '../entities.js';
export type { Page } from '../pagination.js';
export type { AccountStore } from './accounts/account-store.js';
export type { AuditFilter, AuditStore } from './audit/audit-store.js';
export type { FormResult, FormStore } from './forms/form-store.js';
export type { GrantStore } from './grants/grant-store.js';
export type { ImportStore } from './imports/import-store.js';
export type { KeyStore } from './keys/key-store.js';
export type { ScopeRequestStore } from './scope-requests/scope-request-store.js';
export type { UsageStore } from './usage/usage-store.js';
export type { DeliveryShare, WebhookStore } from './webhooks/webhook-store.js';

/**
 * What every aggregate store shares: one database, its transactions and its locks. Each aggregate's store queries
 * through the same handle, so a transaction opened here holds calls to any of them.
 */
export interface StoreBase {
  readonly dialect: 'sqlite' | 'postgres';
  migrate(): Promise<void>;
  close(): Promise<void>;

  /**
   * Runs `fn` in one transaction: every store call made inside it (by any service, at any depth, to any aggregate's
   * store) joins it, and a throw rolls all of it back. Nested calls join the outer transaction. Do only storage work
   * inside: caches, buses and other side effects belong after it commits.
   */
  transaction<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Inside a transaction: waits for, then holds until commit, the organization's write lock, so that
   * check-then-act rules of one organization (key limit, last admin, rotation, invitations) run one at a time.
   */
  lockOrganization(orgId: string): Promise<void>;
}

/**
 * Storage, as keyward's services see it: every aggregate's store over one database. One implementation over Kysely
 * serves SQLite and PostgreSQL, and one contract suite per aggregate runs against both.
 */
export interface Store
  extends StoreBase,
    KeyStore,
    AccountStore,
    GrantStore,
    UsageStore,
    AuditStore,
    WebhookStore,
    FormStore,
    ImportStore,
    ScopeRequestStore {
  /**
   * Deletes what has expired, each aggregate's share in turn: sessions that have expired, sign-in grants that
   * expired more than a day ago, and form tokens that have expired.
   */
  pruneExpired(now: number): Promise<void>;
}
