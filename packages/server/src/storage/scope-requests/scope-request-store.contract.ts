import { beforeAll, describe, expect, it } from 'vitest';
import type { ScopeRequest, Store } from '../store.js';
import { type ContractStore, id } from '../store-fixtures.contract.js';

/** The store contract's cases about scope requests (CIBA). */
export function scopeRequestStoreContract(shared: ContractStore) {
  describe('scope requests', () => {
    let store: Store;
    let orgId: string;
    let userId: string;
    beforeAll(() => {
      ({ store, orgId, userId } = shared);
    });

    const request = (over: Partial<ScopeRequest> = {}): ScopeRequest => ({
      id: id('sreq'),
      orgId,
      keyId: 'key_asking',
      userId,
      environment: 'test',
      agent: 'researcher',
      currentScope: 'read',
      scope: 'write',
      reason: 'save the report',
      resource: null,
      requestedExpiry: null,
      authReqHash: id('hash'),
      status: 'pending',
      decidedBy: null,
      decidedAt: null,
      grantedScope: null,
      grantedExpiresAt: null,
      issuedKeyId: null,
      pollInterval: 2,
      lastPolledAt: null,
      createdAt: 1_000,
      expiresAt: 5_000,
      ...over,
    });

    it('a request reads back by its id (in its organization only) and by the hash of its auth_req_id', async () => {
      const r = request({ resource: 'https://api.example.com', requestedExpiry: 600 });
      await store.insertScopeRequest(r);
      expect(await store.findScopeRequest(orgId, r.id)).toEqual(r);
      expect(await store.findScopeRequest('org_elsewhere', r.id)).toBeUndefined();
      expect(await store.findScopeRequestByHash(r.authReqHash)).toEqual(r);
    });

    it('pending counts and lists only what still waits: neither decided nor expired', async () => {
      const keyId = id('key');
      const waiting = request({ keyId });
      await store.insertScopeRequest(waiting);
      await store.insertScopeRequest(request({ keyId, status: 'denied' }));
      await store.insertScopeRequest(request({ keyId, expiresAt: 2_000 }));
      expect(await store.countPendingScopeRequests(keyId, 1_500)).toBe(2);
      expect(await store.countPendingScopeRequests(keyId, 2_000)).toBe(1);
      const listed = await store.listPendingScopeRequests(orgId, 2_000, 200);
      expect(listed.map((r) => r.id)).toContain(waiting.id);
      expect(listed.every((r) => r.status === 'pending' && r.expiresAt > 2_000)).toBe(true);
    });

    it('a decision and a delivery each happen once: 8 parallel moves, exactly one wins', async () => {
      const r = request();
      await store.insertScopeRequest(r);
      const wins = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          store.transaction(() =>
            store.transitionScopeRequest(r.id, 'pending', 'approved', { decidedBy: `usr_${i}`, decidedAt: 2_000, grantedScope: 'agentic' }),
          ),
        ),
      );
      expect(wins.filter(Boolean)).toHaveLength(1);
      const decided = await store.findScopeRequest(orgId, r.id);
      expect(decided).toMatchObject({ status: 'approved', decidedAt: 2_000, grantedScope: 'agentic' });
      const delivered = await Promise.all(
        Array.from({ length: 8 }, () => store.transitionScopeRequest(r.id, 'approved', 'delivered', { issuedKeyId: 'key_new' })),
      );
      expect(delivered.filter(Boolean)).toHaveLength(1);
      expect(await store.listIssuedScopeRequests(r.keyId)).toEqual(
        expect.arrayContaining([expect.objectContaining({ id: r.id, issuedKeyId: 'key_new' })]),
      );
    });

    it('a poll is written down', async () => {
      const r = request();
      await store.insertScopeRequest(r);
      await store.touchScopeRequest(r.id, 3_000);
      expect((await store.findScopeRequest(orgId, r.id))?.lastPolledAt).toBe(3_000);
    });
  });
}
