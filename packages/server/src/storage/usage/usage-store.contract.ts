import { beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../store.js';
import { type ContractStore, id, keyRecord } from '../store-fixtures.contract.js';

/** The store contract's cases about usage counters and the request log. */
export function usageStoreContract(shared: ContractStore) {
  describe('usage', () => {
    let store: Store;
    let orgId: string;
    let userId: string;
    beforeAll(() => {
      ({ store, orgId, userId } = shared);
    });

    it('adds usage counters up across flushes and keeps the latest last-used time', async () => {
      const k = keyRecord(orgId, userId);
      await store.insertKey(k);
      const req = (at: number) => ({ id: id('req'), keyId: k.id, orgId, method: 'GET', path: '/x', status: 200, ip: '127.0.0.1', at });
      await store.recordUsage({
        daily: [{ keyId: k.id, day: '2026-11-01', allowed: 3, denied: 1, credits: 30 }],
        lastUsed: [{ keyId: k.id, at: 50 }],
        requests: [req(50)],
      });
      await store.recordUsage({
        daily: [
          { keyId: k.id, day: '2026-11-01', allowed: 2, denied: 0, credits: 2 },
          { keyId: k.id, day: '2026-11-02', allowed: 1, denied: 1, credits: 0 },
        ],
        lastUsed: [{ keyId: k.id, at: 40 }],
        requests: [req(60), req(70)],
      });
      expect(await store.dailyUsage(k.id, '2026-11-01', '2026-11-30')).toEqual([
        { keyId: k.id, day: '2026-11-01', allowed: 5, denied: 1, credits: 32 },
        { keyId: k.id, day: '2026-11-02', allowed: 1, denied: 1, credits: 0 },
      ]);
      expect((await store.findKey(orgId, k.id))?.lastUsedAt).toBe(50);
      expect((await store.recentRequests(k.id, { limit: 2 })).map((r) => r.at)).toEqual([70, 60]);
      await store.pruneRequestLog(55, 1);
      expect((await store.recentRequests(k.id, { limit: 10 })).map((r) => r.at)).toEqual([70]);
    });
  });
}
