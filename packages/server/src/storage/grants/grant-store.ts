import type { AuthGrant, OAuthClient, RefreshToken } from '../../entities.js';
import type { PageRequest } from '../../pagination.js';

/** Sign-in: device and authorization-code grants, the OAuth clients that registered, and refresh tokens. */
export interface GrantStore {
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
  /** Deletes sign-in grants that expired more than a day ago. */
  pruneExpiredGrants(now: number): Promise<void>;

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
  /**
   * The key revocation cascade's reach into sign-in: a revocation ends everything that could mint the key again,
   * every refresh token of a family whose live token was issued with one of `keyIds` or a key derived from them.
   * A family whose live token came with a newer key (a refresh retiring the key it replaced) goes on, and a replayed
   * token is still caught, as its status stays `used`. The key store calls it on every revocation.
   */
  endRefreshFamiliesOfKeys(keyIds: readonly string[]): Promise<void>;
}
