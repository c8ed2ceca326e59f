import { beforeAll, describe, expect, it } from 'vitest';
import type { ApiKey, Store } from '../store.js';
import { type ContractStore, id, keyRecord, newOrg as newOrgIn } from '../store-fixtures.contract.js';

/** The store contract's cases about imported keys. */
export function importStoreContract(shared: ContractStore) {
  describe('imports', () => {
    let store: Store;
    beforeAll(() => {
      ({ store } = shared);
    });
    const newOrg = (plan?: string) => newOrgIn(shared, plan);

    it('imported keys: found by their imported hash, skipped on a re-import, re-hashed once, exported a page at a time', async () => {
      const { org, user } = await newOrg();
      const imported = (n: number) =>
        keyRecord(org, user, { id: id('key'), hash: `sha256:${String(n).padStart(64, 'a')}`, createdAt: 100 + n, importedFrom: 'unkey' });
      const batch = [1, 2, 3].map(imported);
      expect(await store.insertImportedKeys(batch)).toBe(3);
      expect(await store.hasImportedKeys()).toBe(true);
      // A second run of the same input is skipped, not refused.
      expect(await store.insertImportedKeys([...batch.map((k) => ({ ...k, id: id('key') })), imported(4)])).toBe(1);
      const one = batch[0] as ApiKey;
      expect(await store.findKeyForVerify(one.hash)).toMatchObject({ id: one.id, creatorRole: 'admin' });
      // Its first use writes keyward's HMAC; only one of two racing first uses does, and the imported hash is gone.
      const tries = await Promise.all([
        store.rehashImported(one.id, 'hmac-one', 'wxyz', one.hash, 'ref-one'),
        store.rehashImported(one.id, 'hmac-one', 'wxyz', one.hash, 'ref-one'),
      ]);
      expect(tries.filter(Boolean)).toHaveLength(1);
      expect(await store.findKeyForVerify(one.hash)).toBeUndefined();
      expect(await store.findKeyForVerify('hmac-one')).toMatchObject({ id: one.id });
      expect(await store.findKey(org, one.id)).toMatchObject({ hash: 'hmac-one', last4: 'wxyz' });
      // What a re-import asks: which hashes (unused keys) and references (used ones) are there.
      const two = batch[1] as ApiKey;
      const found = await store.findImported([two.hash, 'sha256:none'], ['ref-one', 'ref-none']);
      expect([...found].sort()).toEqual([two.hash, 'ref-one'].sort());
      const first = await store.exportKeys(org, { limit: 3 });
      const rest = await store.exportKeys(org, { limit: 3, after: { at: first[2]?.key.createdAt ?? 0, id: first[2]?.key.id ?? '' } });
      expect([...first, ...rest].map((r) => [r.key.createdAt, r.key.hash.startsWith('sha256:'), r.ownerEmail])).toEqual([
        [101, false, `${user}@example.com`],
        [102, true, `${user}@example.com`],
        [103, true, `${user}@example.com`],
        [104, true, `${user}@example.com`],
      ]);
    });
  });
}
