import type { ScopeRequest } from '../../entities.js';

/** Scope requests (CIBA): an agent's ask, a person's decision, and the one delivery of the key it becomes. */
export interface ScopeRequestStore {
  insertScopeRequest(request: ScopeRequest): Promise<void>;
  findScopeRequest(orgId: string, id: string): Promise<ScopeRequest | undefined>;
  findScopeRequestByHash(authReqHash: string): Promise<ScopeRequest | undefined>;
  /** How many of a key's requests still wait for a decision at `now` (pending and not expired). */
  countPendingScopeRequests(keyId: string, now: number): Promise<number>;
  /** An organization's requests waiting for a decision at `now`, oldest first (at most `limit`). */
  listPendingScopeRequests(orgId: string, now: number, limit: number): Promise<ScopeRequest[]>;
  /** The requests a key made that became keys, newest first: what its page links to. */
  listIssuedScopeRequests(requestingKeyId: string): Promise<ScopeRequest[]>;
  /**
   * Moves a request from one status to another with what the move records; false when it was no longer in `from`
   * (a second decision, a second delivery, a race): exactly one caller wins.
   */
  transitionScopeRequest(
    id: string,
    from: ScopeRequest['status'],
    to: ScopeRequest['status'],
    patch?: Partial<Pick<ScopeRequest, 'decidedBy' | 'decidedAt' | 'grantedScope' | 'grantedExpiresAt' | 'issuedKeyId'>>,
  ): Promise<boolean>;
  touchScopeRequest(id: string, polledAt: number): Promise<void>;
}
