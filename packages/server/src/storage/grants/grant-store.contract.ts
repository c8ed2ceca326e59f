import { beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../store.js';
import { type ContractStore, id } from '../store-fixtures.contract.js';

/** The store contract's cases about sign-in grants. */
export function grantStoreContract(shared: ContractStore) {
  describe('grants', () => {
    let store: Store;
    let orgId: string;
    let userId: string;
    beforeAll(() => {
      ({ store, orgId, userId } = shared);
    });

    it('a sign-in code moved to used by 8 parallel exchanges: exactly one wins', async () => {
      const grant = {
        id: id('grt'),
        kind: 'code' as const,
        codeHash: id('code'),
        userCode: null,
        status: 'approved' as const,
        userId,
        orgId,
        environment: 'test',
        name: 'race',
        scope: null,
        clientId: null,
        codeChallenge: 'x',
        resource: null,
        offline: false,
        redirectUri: 'http://127.0.0.1:1/callback',
        pollInterval: 5,
        lastPolledAt: null,
        createdAt: 1,
        expiresAt: 9_999_999_999_999,
      };
      await store.insertGrant(grant);
      const wins = await Promise.all(
        Array.from({ length: 8 }, () => store.transaction(() => store.transitionGrant(grant.id, 'approved', 'used'))),
      );
      expect(wins.filter(Boolean)).toHaveLength(1);
    });
  });
}
