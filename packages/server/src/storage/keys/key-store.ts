import type { ApiKey, KeyForVerify, LeakReport } from '../../entities.js';
import type { PageRequest } from '../../pagination.js';
import type { Served } from './active-keys.js';

/**
 * API keys: their rows, their trees (a child derived from a parent), their rotation lineages, and the look-up the
 * verify path runs.
 *
 * Cascades. A key's revocation is never alone: every revocation below ({@link KeyStore.revokeKey},
 * {@link KeyStore.endGrace}, {@link KeyStore.revokeKeysOfCreator}, a rotation without grace) also revokes the key's
 * subtree (every key derived from it, at any depth, that is not revoked yet, at the same time) and ends the refresh
 * token families that could mint any of those keys again ({@link GrantStore.endRefreshFamiliesOfKeys}). A rotation
 * with grace caps the end of the old key's subtree at the end of its grace: children never outlive a rotated parent.
 */
export interface KeyStore {
  /** Inserts a key and, for a child key, its place in the tree (its ancestors), in one transaction. */
  insertKey(key: ApiKey): Promise<void>;
  findKey(orgId: string, id: string): Promise<ApiKey | undefined>;
  findKeyForVerify(hash: string): Promise<KeyForVerify | undefined>;
  /** Keys, newest first; `page.limit` rows at most, after `page.after` (created_at, id). */
  listKeys(orgId: string, filter: { environment?: string }, page: PageRequest): Promise<ApiKey[]>;
  /** The organization's keys among `ids` (in no particular order). */
  listKeysByIds(orgId: string, ids: readonly string[]): Promise<ApiKey[]>;
  /** Keys (of every organization) not revoked that expire after `from` and at or before `to`, at most 10,000. */
  keysExpiringBetween(from: number, to: number): Promise<ApiKey[]>;
  /** Sets a key's agent label; false when there is no such key. */
  updateKeyAgent(orgId: string, id: string, agent: string | null): Promise<boolean>;
  /** Records that a key was reported as found in public. */
  markLeaked(id: string, leak: LeakReport): Promise<void>;

  /** Keys that still work by time but belong to an environment not in `served`: per environment and prefix. */
  retiredKeys(served: readonly string[], now: number): Promise<{ environment: string; prefix: string; count: number }[]>;
  /**
   * Active keys of an organization: neither revoked nor expired at `now` (core's `keyState`, as SQL), made by a
   * person, of an environment in `served` (null: every environment; a key of any other is retired). A key in its
   * rotation grace is active. The one definition of "active key": the plan's limit, the overview and
   * `keyward-server admin orgs` all use it.
   */
  countActiveKeys(orgId: string, now: number, served: Served): Promise<number>;

  /** Active keys derived directly from `parentId` (at most `delegation.max_children`). */
  countActiveChildren(parentId: string, now: number): Promise<number>;
  /** Active keys derived from `rootId` at any depth, itself not counted (at most `delegation.max_descendants`). */
  countActiveDescendants(rootId: string, now: number): Promise<number>;
  /** `rootIds` and every key derived from any of them, at any depth. */
  subtreeKeyIds(rootIds: readonly string[]): Promise<string[]>;
  /** Keys derived directly from any of `parentIds`, oldest first (1,000 at most). */
  listChildren(orgId: string, parentIds: readonly string[]): Promise<ApiKey[]>;

  /** Revokes a key unless it is already revoked, and with it its subtree (the cascade above); false when it was. */
  revokeKey(id: string, at: number): Promise<boolean>;
  /**
   * Marks `oldId` as rotated to `successorId` with its new end (revocation or grace expiry), only while it is
   * still the live head of its lineage (not rotated, not revoked, not expired at `now`): false when another
   * rotation or a revocation got there first. Cascade: its subtree is revoked with it, or, given a grace, ends
   * when the grace ends (a child that would end later is cut to it). `revokedSuccessor` is the successor the caller
   * found revoked (the key heads its lineage again, see core's `headsLineage`): the mark then replaces that one, and
   * only that one.
   */
  markRotated(
    oldId: string,
    successorId: string,
    end: { revokedAt: number | null; expiresAt: number | null },
    now: number,
    revokedSuccessor?: string | null,
  ): Promise<boolean>;
  /**
   * Ends the grace of every key of a lineage still in grace at `now` (rotated, not yet revoked or expired), except
   * `exceptId`: revoked at `now`, each with its subtree. Returns their ids.
   */
  endGrace(lineageId: string, exceptId: string, now: number): Promise<string[]>;
  /** Ids of every key of a lineage, oldest first. */
  lineageKeyIds(lineageId: string): Promise<string[]>;
  /**
   * Revokes, at `now`, every key a person made in an organization that still works (in grace too), each with its
   * subtree; their ids.
   */
  revokeKeysOfCreator(orgId: string, userId: string, now: number): Promise<string[]>;
}
