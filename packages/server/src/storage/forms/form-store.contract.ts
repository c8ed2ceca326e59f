import { beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../store.js';
import type { ContractStore } from '../store-fixtures.contract.js';

/** The store contract's cases about one-time forms. */
export function formStoreContract(shared: ContractStore) {
  describe('forms', () => {
    let store: Store;
    beforeAll(() => {
      ({ store } = shared);
    });

    it('claims a form token once per session, keeps where its result is, and hands its secret out once', async () => {
      const claims = await Promise.all(Array.from({ length: 4 }, () => store.claimForm('frm_1', 'sess_a', 10_000)));
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect(await store.formResult('frm_1', 'sess_a')).toEqual({ location: null });
      await store.completeForm('frm_1', '/dashboard/keys?shown=frm_1', 'sealed');
      expect(await store.formResult('frm_1', 'sess_b')).toBeUndefined();
      expect(await store.takeFormSecret('frm_1', 'sess_b')).toBeNull();
      expect(await store.takeFormSecret('frm_1', 'sess_a')).toBe('sealed');
      expect(await store.takeFormSecret('frm_1', 'sess_a')).toBeNull();
      expect(await store.formResult('frm_1', 'sess_a')).toEqual({ location: '/dashboard/keys?shown=frm_1' });
      await store.claimForm('frm_2', 'sess_a', 10_000);
      await store.releaseForm('frm_2');
      expect(await store.claimForm('frm_2', 'sess_a', 10_000)).toBe(true);
      await store.pruneExpired(10_000);
      expect(await store.formResult('frm_2', 'sess_a')).toBeUndefined();
    });
  });
}
