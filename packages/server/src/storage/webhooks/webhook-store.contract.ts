import { beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../store.js';
import { type ContractStore, id } from '../store-fixtures.contract.js';

/** The store contract's cases about webhook deliveries. */
export function webhookStoreContract(shared: ContractStore) {
  describe('webhooks', () => {
    let store: Store;
    let orgId: string;
    beforeAll(() => {
      ({ store, orgId } = shared);
    });

    it('webhook deliveries: due ones in order, each try claimed by exactly one caller, pages newest first', async () => {
      const hook = { id: id('wh'), orgId, url: 'https://example.com/h', events: [], sealedSecret: 'sealed', createdAt: 1 };
      await store.insertWebhook(hook);
      const delivery = (n: number, nextAttemptAt: number) => ({
        id: id('msg'),
        webhookId: hook.id,
        orgId,
        eventType: 'key.created',
        payload: '{}',
        status: 'pending' as const,
        attempts: [],
        nextAttemptAt,
        createdAt: n,
      });
      const [a, b, later] = [delivery(1, 100), delivery(2, 50), delivery(3, 10_000)];
      await store.insertDeliveries([a, b, later]);
      expect((await store.dueDeliveries(1_000, 10)).map((d) => d.id)).toEqual([b.id, a.id]);
      const claims = await Promise.all(Array.from({ length: 5 }, () => store.claimDelivery(a.id, 100, 60_000)));
      expect(claims.filter(Boolean)).toHaveLength(1);
      await store.recordAttempt(a.id, [{ at: 1_000, status: 500, error: 'answered 500', ms: 3 }], 'pending', 2_000);
      expect(await store.findDelivery(orgId, a.id)).toMatchObject({ attempts: [{ status: 500 }], nextAttemptAt: 2_000 });
      expect((await store.listDeliveries(orgId, hook.id, { limit: 2 })).map((d) => d.id)).toEqual([later.id, b.id]);
      expect(await store.findDelivery(id('org'), a.id)).toBeUndefined();
      expect(await store.noteOnce(`quota:${a.id}`, 1)).toBe(true);
      expect(await store.noteOnce(`quota:${a.id}`, 2)).toBe(false);
      expect(await store.deleteWebhook(orgId, hook.id)).toBe(true);
      expect(await store.findDelivery(orgId, a.id)).toBeUndefined();
    });

    it('trust: due webhook deliveries are shared fairly between organizations (round-robin, capped per organization and webhook, busy shares skipped)', async () => {
      const [noisy, quiet] = [id('org'), id('org')];
      const [loud1, loud2, calm] = [id('wh'), id('wh'), id('wh')];
      const delivery = (org: string, webhookId: string, at: number) => ({
        id: id('msg'),
        webhookId,
        orgId: org,
        eventType: 'key.created',
        payload: '{}',
        status: 'pending' as const,
        attempts: [],
        nextAttemptAt: at,
        createdAt: at,
      });
      // The noisy organization queued 300 deliveries before the quiet one queued its one.
      const backlog = Array.from({ length: 300 }, (_, i) => delivery(noisy, i % 2 ? loud1 : loud2, 5_000_000 + i));
      const late = delivery(quiet, calm, 5_000_400);
      await store.insertDeliveries([...backlog, late]);
      const share = { perOrganization: 3, perWebhook: 2 };
      const mine = <T extends { orgId: string }>(ds: T[]) => ds.filter((d) => d.orgId === noisy || d.orgId === quiet);
      // The quiet organization's first turn comes before the noisy one's second, whatever their ages; the noisy
      // one gets 3 turns in all.
      const due = mine(await store.dueDeliveries(5_001_000, 100, share));
      expect(due.map((d) => d.id)).toEqual([backlog[0]?.id, late.id, backlog[1]?.id, backlog[2]?.id]);
      // One delivery per webhook: the noisy organization's 3rd turn (loud2's second) is left for later.
      const onePerHook = mine(await store.dueDeliveries(5_001_000, 100, { perOrganization: 3, perWebhook: 1 }));
      expect(onePerHook.map((d) => d.id)).toEqual([backlog[0]?.id, late.id, backlog[1]?.id]);
      expect(mine(await store.dueDeliveries(5_001_000, 100, { ...share, skipOrganizations: [noisy] })).map((d) => d.id)).toEqual([late.id]);
      const hooksBusy = mine(await store.dueDeliveries(5_001_000, 100, { ...share, skipWebhooks: [loud1, loud2] }));
      expect(hooksBusy.map((d) => d.id)).toEqual([late.id]);
    });
  });
}
