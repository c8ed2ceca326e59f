import { beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../store.js';
import { type ContractStore, id } from '../store-fixtures.contract.js';

/** The store contract's cases about the audit log. */
export function auditStoreContract(shared: ContractStore) {
  describe('audit', () => {
    let store: Store;
    let orgId: string;
    let userId: string;
    beforeAll(() => {
      ({ store, orgId, userId } = shared);
    });

    it('lists audit events newest first, by key, and pages with before', async () => {
      const ev = (at: number, keyId: string | null) => ({
        id: id('evt'),
        orgId,
        actorType: 'user' as const,
        actorId: userId,
        action: 'key.created',
        keyId,
        data: { at },
        at,
      });
      await store.insertAudit([ev(1, 'key_a'), ev(2, 'key_b'), ev(3, 'key_a')]);
      expect((await store.listAudit(orgId, {}, { limit: 10 })).map((e) => e.at)).toEqual([3, 2, 1]);
      expect((await store.listAudit(orgId, { keyId: 'key_a' }, { limit: 10 })).map((e) => e.data.at)).toEqual([3, 1]);
      expect((await store.listAudit(orgId, { before: 3 }, { limit: 10 })).map((e) => e.at)).toEqual([2, 1]);
    });
  });
}
