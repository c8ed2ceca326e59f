import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountStoreContract } from './accounts/account-store.contract.js';
import { auditStoreContract } from './audit/audit-store.contract.js';
import { formStoreContract } from './forms/form-store.contract.js';
import { grantStoreContract } from './grants/grant-store.contract.js';
import { importStoreContract } from './imports/import-store.contract.js';
import { keyStoreContract } from './keys/key-store.contract.js';
import { scopeRequestStoreContract } from './scope-requests/scope-request-store.contract.js';
import type { Member, Store } from './store.js';
import { type ContractStore, id, keyRecord, newOrg as newOrgIn } from './store-fixtures.contract.js';
import { usageStoreContract } from './usage/usage-store.contract.js';
import { webhookStoreContract } from './webhooks/webhook-store.contract.js';

/**
 * What every storage implementation must do, run once per database. `open` gives a fresh, empty store; `close`
 * tears it down. The cases of the transaction and lock contract, and of what spans aggregates, are here; each
 * aggregate's are in its own contract file, run over the same store.
 */
export function storeContract(name: string, open: () => Promise<Store>, enabled = true) {
  describe.skipIf(!enabled)(`store contract: ${name}`, () => {
    const shared = {} as ContractStore;

    beforeAll(async () => {
      const store = await open();
      await store.migrate();
      await store.migrate(); // idempotent: a restart runs it again
      const orgId = id('org');
      const userId = id('usr');
      const member: Member = {
        id: id('mem'),
        orgId,
        userId,
        email: `${userId}@example.com`,
        role: 'admin',
        inviteTokenHash: null,
        inviteExpiresAt: null,
        invitedBy: null,
        createdAt: 1,
        joinedAt: 1,
      };
      await store.createAccount({
        user: { id: userId, email: member.email, name: 'Ada', passwordHash: 'scrypt$x', createdAt: 1 },
        organization: { id: orgId, name: 'Org', plan: 'free', createdAt: 1 },
        member,
      });
      Object.assign(shared, { store, orgId, userId, member });
    });
    afterAll(() => shared.store.close());

    accountStoreContract(shared);
    keyStoreContract(shared);

    describe('transactions, locks and pruning', () => {
      let store: Store;
      let orgId: string;
      let userId: string;
      beforeAll(() => {
        ({ store, orgId, userId } = shared);
      });
      const newOrg = (plan?: string) => newOrgIn(shared, plan);

      it('rolls a transaction back whole when it throws, and nested transactions join the outer one', async () => {
        const { org, user } = await newOrg();
        const k1 = keyRecord(org, user);
        const k2 = keyRecord(org, user);
        await expect(
          store.transaction(async () => {
            await store.insertKey(k1);
            await store.transaction(() => store.insertKey(k2));
            expect(await store.countActiveKeys(org, 5_000, null)).toBe(2); // seen inside the transaction
            throw new Error('changed my mind');
          }),
        ).rejects.toThrow('changed my mind');
        expect(await store.findKey(org, k1.id)).toBeUndefined();
        expect(await store.findKey(org, k2.id)).toBeUndefined();
      });

      it('concurrent creates at the plan key limit never go above it (count and insert under the organization lock)', async () => {
        const { org, user } = await newOrg();
        await store.insertKey(keyRecord(org, user));
        const createIfRoom = () =>
          store.transaction(async () => {
            await store.lockOrganization(org);
            if ((await store.countActiveKeys(org, 5_000, null)) >= 3) return false;
            await store.insertKey(keyRecord(org, user));
            return true;
          });
        const made = await Promise.all(Array.from({ length: 8 }, createIfRoom));
        expect(made.filter(Boolean)).toHaveLength(2);
        expect(await store.countActiveKeys(org, 5_000, null)).toBe(3);
      });

      it('prunes expired sessions and long-expired sign-in grants, and nothing else', async () => {
        await store.insertSession({ id: 'old', userId, orgId, createdAt: 1, expiresAt: 1_000 });
        await store.insertSession({ id: 'live', userId, orgId, createdAt: 1, expiresAt: 10_000_000_000 });
        const grant = (id: string, expiresAt: number) => ({
          id,
          kind: 'code' as const,
          codeHash: `hash-${id}`,
          userCode: null,
          status: 'approved' as const,
          userId,
          orgId,
          environment: 'test',
          name: 'g',
          scope: null,
          clientId: null,
          codeChallenge: 'c',
          resource: null,
          offline: false,
          redirectUri: 'http://127.0.0.1:1/callback',
          pollInterval: 5,
          lastPolledAt: null,
          createdAt: 1,
          expiresAt,
        });
        await store.insertGrant(grant('grt_old', 1_000));
        await store.insertGrant(grant('grt_recent', 90_000_000));
        await store.pruneExpired(100_000_000);
        expect(await store.findSession('old')).toBeUndefined();
        expect(await store.findSession('live')).toBeDefined();
        expect(await store.findGrantByCode('hash-grt_old')).toBeUndefined();
        expect(await store.findGrantByCode('hash-grt_recent')).toBeDefined();
      });
    });

    grantStoreContract(shared);
    usageStoreContract(shared);
    auditStoreContract(shared);
    webhookStoreContract(shared);
    formStoreContract(shared);
    importStoreContract(shared);
    scopeRequestStoreContract(shared);
  });
}
