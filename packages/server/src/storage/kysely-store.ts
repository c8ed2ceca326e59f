import type { Kysely } from 'kysely';
import type { AccountStore } from './accounts/account-store.js';
import { KyselyAccountStore } from './accounts/kysely-account-store.js';
import type { AuditStore } from './audit/audit-store.js';
import { KyselyAuditStore } from './audit/kysely-audit-store.js';
import { DatabaseHandle, type Dialect } from './database-handle.js';
import type { FormStore } from './forms/form-store.js';
import { KyselyFormStore } from './forms/kysely-form-store.js';
import type { GrantStore } from './grants/grant-store.js';
import { KyselyGrantStore } from './grants/kysely-grant-store.js';
import type { ImportStore } from './imports/import-store.js';
import { KyselyImportStore } from './imports/kysely-import-store.js';
import type { KeyStore } from './keys/key-store.js';
import { KyselyKeyStore } from './keys/kysely-key-store.js';
import type { Database } from './schema.js';
import { KyselyScopeRequestStore } from './scope-requests/kysely-scope-request-store.js';
import type { ScopeRequestStore } from './scope-requests/scope-request-store.js';
import type { Store } from './store.js';
import { KyselyUsageStore } from './usage/kysely-usage-store.js';
import type { UsageStore } from './usage/usage-store.js';
import { KyselyWebhookStore } from './webhooks/kysely-webhook-store.js';
import type { WebhookStore } from './webhooks/webhook-store.js';

/**
 * Storage over Kysely, the same queries for SQLite and PostgreSQL: every aggregate's store over one database
 * handle, so that they share its transactions and locks. This class only puts them together as the whole port;
 * each member is its aggregate store's.
 */
export class KyselyStore implements Store {
  readonly #handle: DatabaseHandle;
  readonly #keys: KeyStore;
  readonly #accounts: AccountStore;
  readonly #grants: GrantStore;
  readonly #usage: UsageStore;
  readonly #audit: AuditStore;
  readonly #webhooks: WebhookStore;
  readonly #forms: FormStore;
  readonly #imports: ImportStore;
  readonly #scopeRequests: ScopeRequestStore;

  constructor(
    readonly root: Kysely<Database>,
    readonly dialect: Dialect,
  ) {
    const handle = new DatabaseHandle(root, dialect);
    // One count of active keys, so that the environments the server serves reach every store that counts keys.
    this.#handle = handle;
    this.#grants = new KyselyGrantStore(handle);
    this.#keys = new KyselyKeyStore(handle, this.#grants);
    this.#accounts = new KyselyAccountStore(handle);
    this.#usage = new KyselyUsageStore(handle);
    this.#audit = new KyselyAuditStore(handle);
    this.#webhooks = new KyselyWebhookStore(handle);
    this.#forms = new KyselyFormStore(handle);
    this.#imports = new KyselyImportStore(handle);
    this.#scopeRequests = new KyselyScopeRequestStore(handle);
  }

  /** Whether the current async call chain runs in a transaction (whose queries must go through its connection). */
  protected get inTransaction(): boolean {
    return this.#handle.inTransaction;
  }

  migrate(): Promise<void> {
    return this.#handle.migrate();
  }

  close(): Promise<void> {
    return this.#handle.close();
  }

  transaction<T>(fn: () => Promise<T>): Promise<T> {
    return this.#handle.transaction(fn);
  }

  lockOrganization(orgId: string): Promise<void> {
    return this.#handle.lockOrganization(orgId);
  }

  async pruneExpired(now: number): Promise<void> {
    await this.#accounts.pruneExpiredSessions(now);
    await this.#grants.pruneExpiredGrants(now);
    await this.#forms.pruneExpiredForms(now);
  }

  // KeyStore
  insertKey(...args: Parameters<KeyStore['insertKey']>) {
    return this.#keys.insertKey(...args);
  }
  findKey(...args: Parameters<KeyStore['findKey']>) {
    return this.#keys.findKey(...args);
  }
  findKeyForVerify(...args: Parameters<KeyStore['findKeyForVerify']>) {
    return this.#keys.findKeyForVerify(...args);
  }
  listKeys(...args: Parameters<KeyStore['listKeys']>) {
    return this.#keys.listKeys(...args);
  }
  listKeysByIds(...args: Parameters<KeyStore['listKeysByIds']>) {
    return this.#keys.listKeysByIds(...args);
  }
  keysExpiringBetween(...args: Parameters<KeyStore['keysExpiringBetween']>) {
    return this.#keys.keysExpiringBetween(...args);
  }
  updateKeyAgent(...args: Parameters<KeyStore['updateKeyAgent']>) {
    return this.#keys.updateKeyAgent(...args);
  }
  markLeaked(...args: Parameters<KeyStore['markLeaked']>) {
    return this.#keys.markLeaked(...args);
  }
  retiredKeys(...args: Parameters<KeyStore['retiredKeys']>) {
    return this.#keys.retiredKeys(...args);
  }
  countActiveKeys(...args: Parameters<KeyStore['countActiveKeys']>) {
    return this.#keys.countActiveKeys(...args);
  }
  countActiveChildren(...args: Parameters<KeyStore['countActiveChildren']>) {
    return this.#keys.countActiveChildren(...args);
  }
  countActiveDescendants(...args: Parameters<KeyStore['countActiveDescendants']>) {
    return this.#keys.countActiveDescendants(...args);
  }
  subtreeKeyIds(...args: Parameters<KeyStore['subtreeKeyIds']>) {
    return this.#keys.subtreeKeyIds(...args);
  }
  listChildren(...args: Parameters<KeyStore['listChildren']>) {
    return this.#keys.listChildren(...args);
  }
  revokeKey(...args: Parameters<KeyStore['revokeKey']>) {
    return this.#keys.revokeKey(...args);
  }
  markRotated(...args: Parameters<KeyStore['markRotated']>) {
    return this.#keys.markRotated(...args);
  }
  endGrace(...args: Parameters<KeyStore['endGrace']>) {
    return this.#keys.endGrace(...args);
  }
  lineageKeyIds(...args: Parameters<KeyStore['lineageKeyIds']>) {
    return this.#keys.lineageKeyIds(...args);
  }
  revokeKeysOfCreator(...args: Parameters<KeyStore['revokeKeysOfCreator']>) {
    return this.#keys.revokeKeysOfCreator(...args);
  }

  // AccountStore
  createAccount(...args: Parameters<AccountStore['createAccount']>) {
    return this.#accounts.createAccount(...args);
  }
  findUserByEmail(...args: Parameters<AccountStore['findUserByEmail']>) {
    return this.#accounts.findUserByEmail(...args);
  }
  findUser(...args: Parameters<AccountStore['findUser']>) {
    return this.#accounts.findUser(...args);
  }
  claimImportedAccount(...args: Parameters<AccountStore['claimImportedAccount']>) {
    return this.#accounts.claimImportedAccount(...args);
  }
  findOrganization(...args: Parameters<AccountStore['findOrganization']>) {
    return this.#accounts.findOrganization(...args);
  }
  listOrganizations(...args: Parameters<AccountStore['listOrganizations']>) {
    return this.#accounts.listOrganizations(...args);
  }
  setOrganizationPlan(...args: Parameters<AccountStore['setOrganizationPlan']>) {
    return this.#accounts.setOrganizationPlan(...args);
  }
  insertMember(...args: Parameters<AccountStore['insertMember']>) {
    return this.#accounts.insertMember(...args);
  }
  findMember(...args: Parameters<AccountStore['findMember']>) {
    return this.#accounts.findMember(...args);
  }
  findMemberByEmail(...args: Parameters<AccountStore['findMemberByEmail']>) {
    return this.#accounts.findMemberByEmail(...args);
  }
  findMemberByUser(...args: Parameters<AccountStore['findMemberByUser']>) {
    return this.#accounts.findMemberByUser(...args);
  }
  findMemberByInvite(...args: Parameters<AccountStore['findMemberByInvite']>) {
    return this.#accounts.findMemberByInvite(...args);
  }
  setMemberInvite(...args: Parameters<AccountStore['setMemberInvite']>) {
    return this.#accounts.setMemberInvite(...args);
  }
  listMembers(...args: Parameters<AccountStore['listMembers']>) {
    return this.#accounts.listMembers(...args);
  }
  updateMemberRole(...args: Parameters<AccountStore['updateMemberRole']>) {
    return this.#accounts.updateMemberRole(...args);
  }
  countOtherAdmins(...args: Parameters<AccountStore['countOtherAdmins']>) {
    return this.#accounts.countOtherAdmins(...args);
  }
  deleteMember(...args: Parameters<AccountStore['deleteMember']>) {
    return this.#accounts.deleteMember(...args);
  }
  insertSession(...args: Parameters<AccountStore['insertSession']>) {
    return this.#accounts.insertSession(...args);
  }
  findSession(...args: Parameters<AccountStore['findSession']>) {
    return this.#accounts.findSession(...args);
  }
  deleteSession(...args: Parameters<AccountStore['deleteSession']>) {
    return this.#accounts.deleteSession(...args);
  }
  deleteUserSessions(...args: Parameters<AccountStore['deleteUserSessions']>) {
    return this.#accounts.deleteUserSessions(...args);
  }
  pruneExpiredSessions(...args: Parameters<AccountStore['pruneExpiredSessions']>) {
    return this.#accounts.pruneExpiredSessions(...args);
  }

  // ScopeRequestStore
  insertScopeRequest(...args: Parameters<ScopeRequestStore['insertScopeRequest']>) {
    return this.#scopeRequests.insertScopeRequest(...args);
  }
  findScopeRequest(...args: Parameters<ScopeRequestStore['findScopeRequest']>) {
    return this.#scopeRequests.findScopeRequest(...args);
  }
  findScopeRequestByHash(...args: Parameters<ScopeRequestStore['findScopeRequestByHash']>) {
    return this.#scopeRequests.findScopeRequestByHash(...args);
  }
  countPendingScopeRequests(...args: Parameters<ScopeRequestStore['countPendingScopeRequests']>) {
    return this.#scopeRequests.countPendingScopeRequests(...args);
  }
  listPendingScopeRequests(...args: Parameters<ScopeRequestStore['listPendingScopeRequests']>) {
    return this.#scopeRequests.listPendingScopeRequests(...args);
  }
  listIssuedScopeRequests(...args: Parameters<ScopeRequestStore['listIssuedScopeRequests']>) {
    return this.#scopeRequests.listIssuedScopeRequests(...args);
  }
  transitionScopeRequest(...args: Parameters<ScopeRequestStore['transitionScopeRequest']>) {
    return this.#scopeRequests.transitionScopeRequest(...args);
  }
  touchScopeRequest(...args: Parameters<ScopeRequestStore['touchScopeRequest']>) {
    return this.#scopeRequests.touchScopeRequest(...args);
  }

  // GrantStore
  insertGrant(...args: Parameters<GrantStore['insertGrant']>) {
    return this.#grants.insertGrant(...args);
  }
  findGrantByCode(...args: Parameters<GrantStore['findGrantByCode']>) {
    return this.#grants.findGrantByCode(...args);
  }
  findGrantByUserCode(...args: Parameters<GrantStore['findGrantByUserCode']>) {
    return this.#grants.findGrantByUserCode(...args);
  }
  transitionGrant(...args: Parameters<GrantStore['transitionGrant']>) {
    return this.#grants.transitionGrant(...args);
  }
  touchGrant(...args: Parameters<GrantStore['touchGrant']>) {
    return this.#grants.touchGrant(...args);
  }
  pruneExpiredGrants(...args: Parameters<GrantStore['pruneExpiredGrants']>) {
    return this.#grants.pruneExpiredGrants(...args);
  }
  insertClient(...args: Parameters<GrantStore['insertClient']>) {
    return this.#grants.insertClient(...args);
  }
  findClient(...args: Parameters<GrantStore['findClient']>) {
    return this.#grants.findClient(...args);
  }
  listClients(...args: Parameters<GrantStore['listClients']>) {
    return this.#grants.listClients(...args);
  }
  revokeClient(...args: Parameters<GrantStore['revokeClient']>) {
    return this.#grants.revokeClient(...args);
  }
  insertRefreshToken(...args: Parameters<GrantStore['insertRefreshToken']>) {
    return this.#grants.insertRefreshToken(...args);
  }
  findRefreshToken(...args: Parameters<GrantStore['findRefreshToken']>) {
    return this.#grants.findRefreshToken(...args);
  }
  useRefreshToken(...args: Parameters<GrantStore['useRefreshToken']>) {
    return this.#grants.useRefreshToken(...args);
  }
  revokeRefreshFamily(...args: Parameters<GrantStore['revokeRefreshFamily']>) {
    return this.#grants.revokeRefreshFamily(...args);
  }
  endRefreshFamiliesOfKeys(...args: Parameters<GrantStore['endRefreshFamiliesOfKeys']>) {
    return this.#grants.endRefreshFamiliesOfKeys(...args);
  }

  // UsageStore
  recordUsage(...args: Parameters<UsageStore['recordUsage']>) {
    return this.#usage.recordUsage(...args);
  }
  dailyUsage(...args: Parameters<UsageStore['dailyUsage']>) {
    return this.#usage.dailyUsage(...args);
  }
  recentRequests(...args: Parameters<UsageStore['recentRequests']>) {
    return this.#usage.recentRequests(...args);
  }
  pruneRequestLog(...args: Parameters<UsageStore['pruneRequestLog']>) {
    return this.#usage.pruneRequestLog(...args);
  }
  orgOverview(...args: Parameters<UsageStore['orgOverview']>) {
    return this.#usage.orgOverview(...args);
  }

  // AuditStore
  insertAudit(...args: Parameters<AuditStore['insertAudit']>) {
    return this.#audit.insertAudit(...args);
  }
  listAudit(...args: Parameters<AuditStore['listAudit']>) {
    return this.#audit.listAudit(...args);
  }

  // WebhookStore
  insertWebhook(...args: Parameters<WebhookStore['insertWebhook']>) {
    return this.#webhooks.insertWebhook(...args);
  }
  listWebhooks(...args: Parameters<WebhookStore['listWebhooks']>) {
    return this.#webhooks.listWebhooks(...args);
  }
  findWebhook(...args: Parameters<WebhookStore['findWebhook']>) {
    return this.#webhooks.findWebhook(...args);
  }
  deleteWebhook(...args: Parameters<WebhookStore['deleteWebhook']>) {
    return this.#webhooks.deleteWebhook(...args);
  }
  insertDeliveries(...args: Parameters<WebhookStore['insertDeliveries']>) {
    return this.#webhooks.insertDeliveries(...args);
  }
  dueDeliveries(...args: Parameters<WebhookStore['dueDeliveries']>) {
    return this.#webhooks.dueDeliveries(...args);
  }
  claimDelivery(...args: Parameters<WebhookStore['claimDelivery']>) {
    return this.#webhooks.claimDelivery(...args);
  }
  recordAttempt(...args: Parameters<WebhookStore['recordAttempt']>) {
    return this.#webhooks.recordAttempt(...args);
  }
  listDeliveries(...args: Parameters<WebhookStore['listDeliveries']>) {
    return this.#webhooks.listDeliveries(...args);
  }
  findDelivery(...args: Parameters<WebhookStore['findDelivery']>) {
    return this.#webhooks.findDelivery(...args);
  }
  redeliver(...args: Parameters<WebhookStore['redeliver']>) {
    return this.#webhooks.redeliver(...args);
  }
  noteOnce(...args: Parameters<WebhookStore['noteOnce']>) {
    return this.#webhooks.noteOnce(...args);
  }

  // FormStore
  claimForm(...args: Parameters<FormStore['claimForm']>) {
    return this.#forms.claimForm(...args);
  }
  formResult(...args: Parameters<FormStore['formResult']>) {
    return this.#forms.formResult(...args);
  }
  completeForm(...args: Parameters<FormStore['completeForm']>) {
    return this.#forms.completeForm(...args);
  }
  releaseForm(...args: Parameters<FormStore['releaseForm']>) {
    return this.#forms.releaseForm(...args);
  }
  takeFormSecret(...args: Parameters<FormStore['takeFormSecret']>) {
    return this.#forms.takeFormSecret(...args);
  }
  pruneExpiredForms(...args: Parameters<FormStore['pruneExpiredForms']>) {
    return this.#forms.pruneExpiredForms(...args);
  }

  // ImportStore
  hasImportedKeys(...args: Parameters<ImportStore['hasImportedKeys']>) {
    return this.#imports.hasImportedKeys(...args);
  }
  findImported(...args: Parameters<ImportStore['findImported']>) {
    return this.#imports.findImported(...args);
  }
  insertImportedKeys(...args: Parameters<ImportStore['insertImportedKeys']>) {
    return this.#imports.insertImportedKeys(...args);
  }
  rehashImported(...args: Parameters<ImportStore['rehashImported']>) {
    return this.#imports.rehashImported(...args);
  }
  exportKeys(...args: Parameters<ImportStore['exportKeys']>) {
    return this.#imports.exportKeys(...args);
  }
  claimImportedKeys(...args: Parameters<ImportStore['claimImportedKeys']>) {
    return this.#imports.claimImportedKeys(...args);
  }
}
