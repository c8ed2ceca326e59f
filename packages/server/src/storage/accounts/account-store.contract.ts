import { beforeAll, describe, expect, it } from 'vitest';
import type { Member, Store } from '../store.js';
import { type ContractStore, id, keyRecord, newOrg as newOrgIn } from '../store-fixtures.contract.js';

/** The store contract's cases about accounts, organizations, members and sessions. */
export function accountStoreContract(shared: ContractStore) {
  describe('accounts', () => {
    let store: Store;
    let orgId: string;
    let userId: string;
    let member: Member;
    beforeAll(() => {
      ({ store, orgId, userId, member } = shared);
    });
    const newOrg = (plan?: string) => newOrgIn(shared, plan);

    it('creates an account atomically and finds it again', async () => {
      expect(await store.findUserByEmail(member.email)).toMatchObject({ id: userId, name: 'Ada' });
      expect(await store.findMemberByUser(userId)).toMatchObject({ orgId, role: 'admin' });
      expect(await store.findOrganization(orgId)).toMatchObject({ plan: 'free' });
      const dup = store.createAccount({
        user: { id: id('usr'), email: member.email, name: null, passwordHash: 'x', createdAt: 2 },
        member: { ...member, id: id('mem'), userId: id('usr'), email: 'other@example.com' },
      });
      await expect(dup).rejects.toThrow();
      expect((await store.listMembers(orgId, { limit: 200 })).map((m) => m.email)).toEqual([member.email]);
    });

    it('two admins demoting each other at once leave one admin (role re-read under the organization lock)', async () => {
      const { org, admin } = await newOrg();
      const other = id('usr');
      const second: Member = { ...admin, id: id('mem'), userId: other, email: `${other}@example.com` };
      await store.createAccount({ user: { id: other, email: second.email, name: null, passwordHash: 'x', createdAt: 1 }, member: second });
      const demote = (actorUser: string, target: Member) =>
        store
          .transaction(async () => {
            await store.lockOrganization(org);
            const me = await store.findMemberByUser(actorUser);
            if (me?.role !== 'admin') throw new Error('no longer admin');
            if ((await store.countOtherAdmins(org, target.id)) === 0) throw new Error('last admin');
            await store.updateMemberRole(org, target.id, 'read');
          })
          .then(
            () => 'ok',
            () => 'refused',
          );
      for (let round = 0; round < 5; round++) {
        const results = await Promise.all([demote(admin.userId as string, second), demote(other, admin)]);
        expect(results.sort()).toEqual(['ok', 'refused']);
        expect((await store.listMembers(org, { limit: 200 })).filter((m) => m.role === 'admin')).toHaveLength(1);
        await store.updateMemberRole(org, admin.id, 'admin');
        await store.updateMemberRole(org, second.id, 'admin');
      }
    });

    it('accepts an invitation by filling in the invited member row', async () => {
      const invited: Member = {
        ...member,
        id: id('mem'),
        userId: null,
        email: 'inv@example.com',
        role: 'write',
        inviteTokenHash: id('inv'),
        inviteExpiresAt: 99,
      };
      await store.insertMember(invited);
      expect(await store.findMemberByInvite(invited.inviteTokenHash ?? '')).toMatchObject({ id: invited.id, userId: null });
      const uid = id('usr');
      await store.createAccount({
        user: { id: uid, email: 'inv@example.com', name: null, passwordHash: 'x', createdAt: 3 },
        member: { ...invited, userId: uid, inviteTokenHash: null, inviteExpiresAt: null, joinedAt: 3 },
      });
      expect(await store.findMemberByUser(uid)).toMatchObject({ id: invited.id, role: 'write', joinedAt: 3 });
      expect(await store.findMemberByInvite(invited.inviteTokenHash ?? '')).toBeUndefined();
    });

    it('an account an import made is claimed once: password, name and e-mail set, its invitation used up', async () => {
      const { org, user, admin } = await newOrg();
      await store.setMemberInvite(admin.id, 'claim-hash', 99);
      expect(await store.findMemberByInvite('claim-hash')).toMatchObject({ id: admin.id, userId: user });
      const claimed = { id: user, email: `claimed-${user}@example.com`, name: 'Owner', passwordHash: 'scrypt$new', createdAt: 1 };
      const both = await Promise.all([
        store.claimImportedAccount(claimed, admin.id, 'x'),
        store.claimImportedAccount(claimed, admin.id, 'x'),
      ]);
      expect(both.filter(Boolean)).toHaveLength(1);
      expect(await store.findUser(user)).toMatchObject({ email: claimed.email, name: 'Owner', passwordHash: 'scrypt$new' });
      expect(await store.findMemberByInvite('claim-hash')).toBeUndefined();
      expect(await store.findMemberByEmail(org, claimed.email)).toMatchObject({ id: admin.id });
      expect(await store.claimImportedAccount(claimed, admin.id, 'x')).toBe(false);
    });

    it('moves an organization to another plan, taking along the keys that were on the old plan', async () => {
      const org = id('org');
      const user = id('usr');
      await store.createAccount({
        user: { id: user, email: `${user}@example.com`, name: null, passwordHash: 'x', createdAt: 1 },
        organization: { id: org, name: 'Upgrader', plan: 'free', createdAt: 1 },
        member: { ...member, id: id('mem'), orgId: org, userId: user, email: `${user}@example.com` },
      });
      const onPlan = keyRecord(org, user, { tier: 'free' });
      const lower = keyRecord(org, user, { tier: 'hobby' });
      await store.insertKey(onPlan);
      await store.insertKey(lower);
      expect(await store.setOrganizationPlan(org, 'pro')).toBe('free');
      expect((await store.findOrganization(org))?.plan).toBe('pro');
      expect((await store.findKey(org, onPlan.id))?.tier).toBe('pro');
      expect((await store.findKey(org, lower.id))?.tier).toBe('hobby');
      expect(await store.setOrganizationPlan('org_nope', 'pro')).toBeUndefined();
      const listed = (await store.listOrganizations(5_000, null)).find((o) => o.id === org);
      expect(listed).toMatchObject({ name: 'Upgrader', plan: 'pro', members: 1, activeKeys: 2 });
    });

    it('sessions expire by row and vanish on logout', async () => {
      await store.insertSession({ id: 'sess1', userId, orgId, createdAt: 1, expiresAt: 2 });
      expect(await store.findSession('sess1')).toEqual({ id: 'sess1', userId, orgId, createdAt: 1, expiresAt: 2 });
      await store.deleteSession('sess1');
      expect(await store.findSession('sess1')).toBeUndefined();
    });
  });
}
