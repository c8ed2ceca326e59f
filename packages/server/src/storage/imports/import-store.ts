import type { ApiKey } from '../../entities.js';
import type { PageRequest } from '../../pagination.js';

/** Keys brought in from another product (and out again), and the accounts an import holds for their owners. */
export interface ImportStore {
  /** Whether any key was imported: only then are keys of other formats looked up. */
  hasImportedKeys(): Promise<boolean>;
  /** Which of these hashes and import references are stored already (a re-import skips their keys). */
  findImported(hashes: readonly string[], refs: readonly string[]): Promise<Set<string>>;
  /** Inserts imported keys in one transaction, skipping any whose hash is stored; how many were inserted. */
  insertImportedKeys(keys: readonly ApiKey[]): Promise<number>;
  /**
   * An imported key's first use: keyward's HMAC replaces the hash it was imported with (only while it is still that
   * hash, so that racing first uses write it once), and its import reference is kept for re-imports.
   */
  rehashImported(id: string, hash: string, last4: string, importedHash: string, importRef: string): Promise<boolean>;
  /**
   * Keys made by people (or imported; not derived ones), oldest first, with their creator's e-mail; `page.limit`
   * rows at most, after `page.after` (created_at, id).
   */
  exportKeys(orgId: string | undefined, page: PageRequest): Promise<{ key: ApiKey; ownerEmail: string }[]>;
  /**
   * A signed-in account claims what an import holds for an owner, with the claim link's invitation (once). The
   * cascade, in one transaction: the held organization's keys (created by `into.userId` from now, at `into.tier`),
   * refresh tokens, audit events and request log move to `into.orgId`; the unclaimed account's sessions, the held
   * organization's members, the unclaimed account and the held organization are deleted. The number of keys
   * moved, or null when the invitation was used (or the account claimed) before.
   */
  claimImportedKeys(
    held: { memberId: string; userId: string; orgId: string; unclaimed: string },
    into: { orgId: string; userId: string; tier: string },
  ): Promise<number | null>;
}
