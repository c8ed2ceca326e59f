import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiKey, Member, Store } from './store.js';

let n = 0;
const id = (p: string) => `${p}_${String(++n).padStart(22, '0')}`;

/** A whole key record for storage tests: `over` sets what a test is about. */
export function keyRecord(orgId: string, createdBy: string, over: Partial<ApiKey> = {}): ApiKey {
  const keyId = over.id ?? id('key');
  return {
    id: keyId,
    orgId,
    createdBy,
    name: 'k',
    environment: 'test',
    scope: 'write',
    tier: 'free',
    hash: id('hash'),
    prefix: 'kw_test_',
    last4: 'abcd',
    createdAt: 1_000,
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
    ipAllowlist: ['10.0.0.0/8'],
    metadata: { team: 'ops', n: 1 },
    rotatedFrom: null,
    rotatedTo: null,
    leak: null,
    lineageId: keyId,
    parentId: null,
    depth: 0,
    agent: null,
    budget: null,
    requestsPerMinute: null,
    monthlyRequests: null,
    resource: null,
    importedFrom: null,
    ...over,
  };
}

/**
 * What every storage implementation must do, run once per database. `open` gives a fresh, empty store; `close`
 * tears it down.
 */
export function storeContract(name: string, open: () => Promise<Store>, enabled = true) {
  describe.skipIf(!enabled)(`store contract: ${name}`, () => {
    let store: Store;
    let orgId: string;
    let userId: string;
    let member: Member;

    beforeAll(async () => {
      store = await open();
      await store.migrate();
      await store.migrate(); // idempotent: a restart runs it again
      orgId = id('org');
      userId = id('usr');
      member = {
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
    });
    afterAll(() => store.close());

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

    /** A fresh organization with one admin, for the cases that count or race. */
    async function newOrg(plan = 'free') {
      const org = id('org');
      const user = id('usr');
      const admin: Member = { ...member, id: id('mem'), orgId: org, userId: user, email: `${user}@example.com` };
      await store.createAccount({
        user: { id: user, email: admin.email, name: null, passwordHash: 'x', createdAt: 1 },
        organization: { id: org, name: 'Org', plan, createdAt: 1 },
        member: admin,
      });
      return { org, user, admin };
    }

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
      expect(await store.countActiveKeys(org, 5_000)).toBe(2);
      expect((await store.listOrganizations(5_000)).find((o) => o.id === org)?.activeKeys).toBe(2);
      expect(await store.countActiveKeys(org, 3_000)).toBe(3);
    });

    it('rolls a transaction back whole when it throws, and nested transactions join the outer one', async () => {
      const { org, user } = await newOrg();
      const k1 = keyRecord(org, user);
      const k2 = keyRecord(org, user);
      await expect(
        store.transaction(async () => {
          await store.insertKey(k1);
          await store.transaction(() => store.insertKey(k2));
          expect(await store.countActiveKeys(org, 5_000)).toBe(2); // seen inside the transaction
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
          if ((await store.countActiveKeys(org, 5_000)) >= 3) return false;
          await store.insertKey(keyRecord(org, user));
          return true;
        });
      const made = await Promise.all(Array.from({ length: 8 }, createIfRoom));
      expect(made.filter(Boolean)).toHaveLength(2);
      expect(await store.countActiveKeys(org, 5_000)).toBe(3);
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
      expect(await store.countActiveKeys(org, 5_000)).toBe(1); // children do not count towards the plan
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
      const listed = (await store.listOrganizations(5_000)).find((o) => o.id === org);
      expect(listed).toMatchObject({ name: 'Upgrader', plan: 'pro', members: 1, activeKeys: 2 });
    });

    it('sessions expire by row and vanish on logout', async () => {
      await store.insertSession({ id: 'sess1', userId, orgId, createdAt: 1, expiresAt: 2 });
      expect(await store.findSession('sess1')).toEqual({ id: 'sess1', userId, orgId, createdAt: 1, expiresAt: 2 });
      await store.deleteSession('sess1');
      expect(await store.findSession('sess1')).toBeUndefined();
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
