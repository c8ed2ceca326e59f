import { keyState } from '@keyward/core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Member, Store } from '../store.js';
import { type ContractStore, id, keyRecord, newOrg as newOrgIn } from '../store-fixtures.contract.js';

/** The store contract's cases about keys: look-up for verify, pages, trees, rotation and the revocation cascades. */
export function keyStoreContract(shared: ContractStore) {
  describe('keys', () => {
    let store: Store;
    let orgId: string;
    let userId: string;
    let member: Member;
    beforeAll(() => {
      ({ store, orgId, userId, member } = shared);
    });
    const newOrg = (plan?: string) => newOrgIn(shared, plan);

    it('round-trips a key with its JSON fields and numbers intact', async () => {
      const k = keyRecord(orgId, userId, { expiresAt: 9_999_999_999_999 });
      await store.insertKey(k);
      expect(await store.findKey(orgId, k.id)).toEqual(k);
      expect(await store.findKey('org_other', k.id)).toBeUndefined();
      const v = await store.findKeyForVerify(k.hash);
      expect(v).toMatchObject({ id: k.id, creatorRole: 'admin', orgPlan: 'free', orgName: 'Org', ipAllowlist: ['10.0.0.0/8'] });
      expect(typeof v?.expiresAt).toBe('number');
      expect(await store.findKeyForVerify('nope')).toBeUndefined();
    });

    it('pages keys newest first by (created_at, id): rows sharing a millisecond are neither repeated nor skipped', async () => {
      const { org, user } = await newOrg();
      for (let i = 0; i < 7; i++) await store.insertKey(keyRecord(org, user, { createdAt: i < 5 ? 100 : 200 }));
      const seen: string[] = [];
      let after: { at: number; id: string } | undefined;
      for (;;) {
        const page = await store.listKeys(org, {}, { limit: 3, after });
        seen.push(...page.map((k) => k.id));
        const last = page[page.length - 1];
        if (page.length < 3 || !last) break;
        after = { at: last.createdAt, id: last.id };
      }
      expect(new Set(seen).size).toBe(7);
      expect(seen).toEqual((await store.listKeys(org, {}, { limit: 10 })).map((k) => k.id));
    });

    it('counts active keys one way: neither revoked nor expired, a key in grace included', async () => {
      const { org, user } = await newOrg();
      await store.insertKey(keyRecord(org, user));
      await store.insertKey(keyRecord(org, user, { expiresAt: 4_000 }));
      await store.insertKey(keyRecord(org, user, { revokedAt: 4_000 }));
      await store.insertKey(keyRecord(org, user, { expiresAt: 9_000, rotatedTo: 'key_successor' }));
      expect(await store.countActiveKeys(org, 5_000, null)).toBe(2);
      expect((await store.listOrganizations(5_000, null)).find((o) => o.id === org)?.activeKeys).toBe(2);
      // Before the revocation's instant the key still counts, as keyState says (the case below checks every instant).
      expect(await store.countActiveKeys(org, 3_000, null)).toBe(4);
    });

    it("storage's active key is core's keyState, key by key: revoked, expired and idle from their instant on, grace and retirement included", async () => {
      const { org, user } = await newOrg();
      const keys = [
        keyRecord(org, user),
        keyRecord(org, user, { revokedAt: 4_000 }),
        keyRecord(org, user, { revokedAt: 6_000 }),
        keyRecord(org, user, { expiresAt: 4_000 }),
        keyRecord(org, user, { expiresAt: 6_000, rotatedTo: 'key_successor' }),
        keyRecord(org, user, { revokedAt: 7_000, expiresAt: 5_000 }),
        keyRecord(org, user, { environment: 'staging', prefix: 'kw_staging_' }),
        keyRecord(org, user, { environment: 'staging', prefix: 'kw_staging_', expiresAt: 4_000 }),
        // idle for 4 s after its creation (1 s), or after its last use (2 s)
        keyRecord(org, user, { idleTimeoutSeconds: 4 }),
        keyRecord(org, user, { idleTimeoutSeconds: 4, lastUsedAt: 2_000 }),
      ];
      for (const k of keys) await store.insertKey(k);
      const served = ['test'];
      const environments = { serves: (name: string) => served.includes(name) };
      for (const now of [3_999, 4_000, 5_000, 6_000, 7_000]) {
        const usable = keys.filter((k) => keyState(k, now, environments).usable).length;
        expect(await store.countActiveKeys(org, now, served), `at ${now}`).toBe(usable);
        const notEnded = keys.filter((k) => !keyState(k, now, environments).ended).length;
        expect(await store.countActiveKeys(org, now, null), `at ${now}, every environment`).toBe(notEnded);
      }
      const retired = await store.retiredKeys(served, 5_000);
      expect(retired.find((r) => r.environment === 'staging')?.count).toBeGreaterThanOrEqual(1);
    });

    it('16 parallel rotations of one key: exactly one marks it rotated, so exactly one successor exists', async () => {
      const { org, user } = await newOrg();
      const head = keyRecord(org, user);
      await store.insertKey(head);
      const rotate = () => {
        const next = keyRecord(org, user, { rotatedFrom: head.id, lineageId: head.lineageId });
        return store
          .transaction(async () => {
            await store.lockOrganization(org);
            if (!(await store.markRotated(head.id, next.id, { revokedAt: null, expiresAt: 90_000 }, 5_000))) throw new Error('lost');
            await store.insertKey(next);
            return next.id;
          })
          .catch(() => null);
      };
      const winners = (await Promise.all(Array.from({ length: 16 }, rotate))).filter((x) => x !== null);
      expect(winners).toHaveLength(1);
      const successors = (await store.listKeys(org, {}, { limit: 200 })).filter((k) => k.rotatedFrom === head.id);
      expect(successors.map((k) => k.id)).toEqual(winners);
      expect(await store.findKey(org, head.id)).toMatchObject({ rotatedTo: winners[0], expiresAt: 90_000, revokedAt: null });
      // a key already rotated is no longer the live head of its lineage
      expect(await store.markRotated(head.id, 'key_x', { revokedAt: 1, expiresAt: null }, 5_000)).toBe(false);
    });

    it('a key whose successor was revoked is rotated again in place of that successor, and of no other', async () => {
      const { org, user } = await newOrg();
      const head = keyRecord(org, user);
      const gone = keyRecord(org, user, { rotatedFrom: head.id, lineageId: head.lineageId });
      await store.insertKey({ ...head, rotatedTo: gone.id, expiresAt: 90_000 });
      await store.insertKey({ ...gone, revokedAt: 4_000 });
      const end = { revokedAt: null, expiresAt: 80_000 };
      expect(await store.markRotated(head.id, 'key_y', end, 5_000)).toBe(false);
      expect(await store.markRotated(head.id, 'key_y', end, 5_000, 'key_other')).toBe(false);
      expect(await store.markRotated(head.id, 'key_y', end, 5_000, gone.id)).toBe(true);
      expect(await store.markRotated(head.id, 'key_z', end, 5_000, gone.id)).toBe(false);
      expect(await store.findKey(org, head.id)).toMatchObject({ rotatedTo: 'key_y', expiresAt: 80_000, revokedAt: null });
    });

    it('ends the grace of the earlier keys of a lineage, and lists the lineage', async () => {
      const { org, user } = await newOrg();
      const a = keyRecord(org, user, { createdAt: 1 });
      const b = keyRecord(org, user, { createdAt: 2, rotatedFrom: a.id, lineageId: a.id });
      const c = keyRecord(org, user, { createdAt: 3, rotatedFrom: b.id, lineageId: a.id });
      await store.insertKey({ ...a, rotatedTo: b.id, revokedAt: 100 });
      await store.insertKey({ ...b, rotatedTo: c.id, expiresAt: 90_000 });
      await store.insertKey(c);
      expect(await store.lineageKeyIds(a.id)).toEqual([a.id, b.id, c.id]);
      expect(await store.endGrace(a.id, c.id, 5_000)).toEqual([b.id]);
      expect(await store.findKey(org, b.id)).toMatchObject({ revokedAt: 5_000 });
      expect(await store.endGrace(a.id, c.id, 6_000)).toEqual([]);
      expect(await store.revokeKey(c.id, 7_000)).toBe(true);
      expect(await store.revokeKey(c.id, 8_000)).toBe(false);
      expect((await store.findKey(org, c.id))?.revokedAt).toBe(7_000);
    });

    it('keeps a key tree: ancestors for verify, subtrees, children counted apart from the plan, revoked with its root', async () => {
      const { org, user } = await newOrg();
      const root = keyRecord(org, user, { budget: 500, requestsPerMinute: 30 });
      const child = keyRecord(org, user, { parentId: root.id, depth: 1, agent: 'planner', budget: 100, ipAllowlist: [] });
      const grandchild = keyRecord(org, user, { parentId: child.id, depth: 2, agent: 'searcher', ipAllowlist: [] });
      const sibling = keyRecord(org, user, { parentId: root.id, depth: 1, expiresAt: 90_000, ipAllowlist: [] });
      for (const k of [root, child, grandchild, sibling]) await store.insertKey(k);
      const seen = await store.findKeyForVerify(grandchild.hash);
      expect(seen).toMatchObject({ parentId: child.id, agent: 'searcher', budget: null });
      expect(seen?.ancestors.map((a) => [a.id, a.budget, a.requestsPerMinute])).toEqual([
        [child.id, 100, null],
        [root.id, 500, 30],
      ]);
      expect((await store.findKeyForVerify(root.hash))?.ancestors).toEqual([]);
      expect((await store.subtreeKeyIds([child.id])).sort()).toEqual([child.id, grandchild.id].sort());
      expect((await store.subtreeKeyIds([root.id])).sort()).toEqual([root.id, child.id, grandchild.id, sibling.id].sort());
      expect((await store.listChildren(org, [root.id])).map((k) => k.id).sort()).toEqual([child.id, sibling.id].sort());
      expect(await store.countActiveChildren(root.id, 5_000)).toBe(2);
      expect(await store.countActiveChildren(root.id, 95_000)).toBe(1); // the sibling expired
      expect(await store.countActiveKeys(org, 5_000, null)).toBe(1); // children do not count towards the plan
      expect(await store.revokeKey(child.id, 7_000)).toBe(true);
      expect((await store.findKey(org, grandchild.id))?.revokedAt).toBe(7_000);
      expect((await store.findKey(org, root.id))?.revokedAt).toBeNull();
      expect((await store.findKey(org, sibling.id))?.revokedAt).toBeNull();
      // a rotation with grace makes the old key's children end with its grace
      const next = keyRecord(org, user, { rotatedFrom: root.id, lineageId: root.id });
      expect(await store.markRotated(root.id, next.id, { revokedAt: null, expiresAt: 60_000 }, 8_000)).toBe(true);
      expect((await store.findKey(org, sibling.id))?.expiresAt).toBe(60_000);
    });

    it("trust: a child key's ancestors carry their IP allowlists, and a subtree's active descendants are counted at any depth", async () => {
      const { org, user } = await newOrg();
      const root = keyRecord(org, user, { ipAllowlist: ['127.0.0.1/32'] });
      const child = keyRecord(org, user, { parentId: root.id, depth: 1, ipAllowlist: [] });
      const grandchild = keyRecord(org, user, { parentId: child.id, depth: 2, ipAllowlist: ['127.0.0.1'] });
      const expired = keyRecord(org, user, { parentId: child.id, depth: 2, expiresAt: 3_000, ipAllowlist: [] });
      for (const k of [root, child, grandchild, expired]) await store.insertKey(k);
      expect((await store.findKeyForVerify(grandchild.hash))?.ancestors.map((a) => [a.id, a.ipAllowlist])).toEqual([
        [child.id, []],
        [root.id, ['127.0.0.1/32']],
      ]);
      expect(await store.countActiveDescendants(root.id, 2_000)).toBe(3);
      expect(await store.countActiveDescendants(root.id, 5_000)).toBe(2); // one expired
      expect(await store.countActiveDescendants(child.id, 5_000)).toBe(1);
      expect(await store.countActiveDescendants(grandchild.id, 5_000)).toBe(0);
      await store.revokeKey(child.id, 6_000);
      expect(await store.countActiveDescendants(root.id, 7_000)).toBe(0);
    });

    it('a creator who leaves the organization leaves their keys without a role', async () => {
      const other = id('usr');
      const m: Member = { ...member, id: id('mem'), userId: other, email: `${other}@example.com`, role: 'read' };
      await store.createAccount({ user: { id: other, email: m.email, name: null, passwordHash: 'x', createdAt: 1 }, member: m });
      const k = keyRecord(orgId, other);
      await store.insertKey(k);
      expect((await store.findKeyForVerify(k.hash))?.creatorRole).toBe('read');
      await store.updateMemberRole(orgId, m.id, 'write');
      expect((await store.findKeyForVerify(k.hash))?.creatorRole).toBe('write');
      await store.deleteMember(orgId, m.id);
      expect((await store.findKeyForVerify(k.hash))?.creatorRole).toBeNull();
    });

    /** A refresh token of `familyId` issued with `keyId` (only its hash is stored; the hash is its name here). */
    async function refreshToken(org: string, user: string, familyId: string, keyId: string, status: 'active' | 'used' = 'active') {
      const tokenHash = id('rth');
      await store.insertRefreshToken({
        id: id('rft'),
        familyId,
        tokenHash,
        clientId: null,
        userId: user,
        orgId: org,
        environment: 'test',
        name: 'agent',
        scope: 'read',
        resource: null,
        keyId,
        status,
        createdAt: 1_000,
        expiresAt: 9_999_999_999_999,
      });
      return tokenHash;
    }
    const statusOf = async (tokenHash: string) => (await store.findRefreshToken(tokenHash))?.status;

    it('trust: a revocation ends the refresh tokens of the key’s grant family (the key itself, or an ancestor)', async () => {
      const { org, user } = await newOrg();
      const minted = keyRecord(org, user);
      const parent = keyRecord(org, user);
      const child = keyRecord(org, user, { parentId: parent.id, depth: 1, ipAllowlist: [] });
      const bystander = keyRecord(org, user);
      for (const k of [minted, parent, child, bystander]) await store.insertKey(k);
      const [f1, f2, f3] = [id('rff'), id('rff'), id('rff')];
      const earlier = await refreshToken(org, user, f1, id('key'), 'used');
      const live = await refreshToken(org, user, f1, minted.id);
      const childs = await refreshToken(org, user, f2, child.id);
      const other = await refreshToken(org, user, f3, bystander.id);
      expect(await store.revokeKey(minted.id, 7_000)).toBe(true);
      expect([await statusOf(live), await statusOf(earlier)]).toEqual(['revoked', 'revoked']);
      expect(await store.revokeKey(parent.id, 7_000)).toBe(true); // the cascade reaches the child's family
      expect(await statusOf(childs)).toBe('revoked');
      expect(await statusOf(other)).toBe('active');
    });

    it('trust: a refresh retiring the key it replaces keeps the family; removing a member ends theirs', async () => {
      const { org, user } = await newOrg();
      const old = keyRecord(org, user);
      const successor = keyRecord(org, user);
      for (const k of [old, successor]) await store.insertKey(k);
      const family = id('rff');
      const used = await refreshToken(org, user, family, old.id, 'used');
      const next = await refreshToken(org, user, family, successor.id);
      expect(await store.revokeKey(old.id, 7_000)).toBe(true);
      expect([await statusOf(used), await statusOf(next)]).toEqual(['used', 'active']);
      expect(await store.revokeKeysOfCreator(org, user, 8_000)).toEqual([successor.id]);
      expect([await statusOf(used), await statusOf(next)]).toEqual(['revoked', 'revoked']);
    });
  });
}
