import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiKey, Member, Store } from './store.js';

let n = 0;
const id = (p: string) => `${p}_${String(++n).padStart(22, '0')}`;

function key(orgId: string, createdBy: string, over: Partial<ApiKey> = {}): ApiKey {
  return {
    id: id('key'),
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
      expect((await store.listMembers(orgId)).map((m) => m.email)).toEqual([member.email]);
    });

    it('round-trips a key with its JSON fields and numbers intact', async () => {
      const k = key(orgId, userId, { expiresAt: 9_999_999_999_999 });
      expect(await store.insertKey(k, null, 2_000)).toBe('inserted');
      expect(await store.findKey(orgId, k.id)).toEqual(k);
      expect(await store.findKey('org_other', k.id)).toBeUndefined();
      const v = await store.findKeyForVerify(k.hash);
      expect(v).toMatchObject({ id: k.id, creatorRole: 'admin', orgPlan: 'free', orgName: 'Org', ipAllowlist: ['10.0.0.0/8'] });
      expect(typeof v?.expiresAt).toBe('number');
      expect(await store.findKeyForVerify('nope')).toBeUndefined();
    });

    it('enforces the active-key limit, counting neither revoked nor expired keys', async () => {
      const org = id('org');
      const user = id('usr');
      await store.createAccount({
        user: { id: user, email: `${user}@example.com`, name: null, passwordHash: 'x', createdAt: 1 },
        organization: { id: org, name: 'Limited', plan: 'free', createdAt: 1 },
        member: { ...member, id: id('mem'), orgId: org, userId: user, email: `${user}@example.com` },
      });
      expect(await store.insertKey(key(org, user), 2, 5_000)).toBe('inserted');
      expect(await store.insertKey(key(org, user, { expiresAt: 4_000 }), 2, 5_000)).toBe('inserted');
      expect(await store.insertKey(key(org, user, { revokedAt: 4_000 }), 2, 5_000)).toBe('inserted');
      expect(await store.insertKey(key(org, user), 2, 5_000)).toBe('inserted');
      expect(await store.insertKey(key(org, user), 2, 5_000)).toBe('limit_reached');
      const concurrent = await Promise.all(Array.from({ length: 5 }, () => store.insertKey(key(org, user), 4, 5_000)));
      expect(concurrent.filter((r) => r === 'inserted')).toHaveLength(2);
      expect((await store.listKeys(org)).length).toBe(6);
    });

    it('updates revocation, expiry and succession', async () => {
      const k = key(orgId, userId);
      await store.insertKey(k, null, 1);
      await store.updateKey(k.id, { revokedAt: 7, expiresAt: 8, rotatedTo: 'key_next' });
      expect(await store.findKey(orgId, k.id)).toMatchObject({ revokedAt: 7, expiresAt: 8, rotatedTo: 'key_next' });
    });

    it('a creator who leaves the organization leaves their keys without a role', async () => {
      const other = id('usr');
      const m: Member = { ...member, id: id('mem'), userId: other, email: `${other}@example.com`, role: 'read' };
      await store.createAccount({ user: { id: other, email: m.email, name: null, passwordHash: 'x', createdAt: 1 }, member: m });
      const k = key(orgId, other);
      await store.insertKey(k, null, 1);
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

    it('adds usage counters up across flushes and keeps the latest last-used time', async () => {
      const k = key(orgId, userId);
      await store.insertKey(k, null, 1);
      const req = (at: number) => ({ id: id('req'), keyId: k.id, orgId, method: 'GET', path: '/x', status: 200, ip: '127.0.0.1', at });
      await store.recordUsage({
        daily: [{ keyId: k.id, day: '2026-11-01', allowed: 3, denied: 1 }],
        lastUsed: [{ keyId: k.id, at: 50 }],
        requests: [req(50)],
      });
      await store.recordUsage({
        daily: [
          { keyId: k.id, day: '2026-11-01', allowed: 2, denied: 0 },
          { keyId: k.id, day: '2026-11-02', allowed: 1, denied: 1 },
        ],
        lastUsed: [{ keyId: k.id, at: 40 }],
        requests: [req(60), req(70)],
      });
      expect(await store.dailyUsage(k.id, '2026-11-01', '2026-11-30')).toEqual([
        { keyId: k.id, day: '2026-11-01', allowed: 5, denied: 1 },
        { keyId: k.id, day: '2026-11-02', allowed: 1, denied: 1 },
      ]);
      expect((await store.findKey(orgId, k.id))?.lastUsedAt).toBe(50);
      expect((await store.recentRequests(k.id, 2)).map((r) => r.at)).toEqual([70, 60]);
      await store.pruneRequestLog(55, 1);
      expect((await store.recentRequests(k.id, 10)).map((r) => r.at)).toEqual([70]);
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
      expect((await store.listAudit(orgId, { limit: 10 })).map((e) => e.at)).toEqual([3, 2, 1]);
      expect((await store.listAudit(orgId, { limit: 10, keyId: 'key_a' })).map((e) => e.data.at)).toEqual([3, 1]);
      expect((await store.listAudit(orgId, { limit: 10, before: 3 })).map((e) => e.at)).toEqual([2, 1]);
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
      const onPlan = key(org, user, { tier: 'free' });
      const lower = key(org, user, { tier: 'hobby' });
      await store.insertKey(onPlan, null, 1);
      await store.insertKey(lower, null, 1);
      expect(await store.setOrganizationPlan(org, 'pro')).toBe('free');
      expect((await store.findOrganization(org))?.plan).toBe('pro');
      expect((await store.findKey(org, onPlan.id))?.tier).toBe('pro');
      expect((await store.findKey(org, lower.id))?.tier).toBe('hobby');
      expect(await store.setOrganizationPlan('org_nope', 'pro')).toBeUndefined();
      const listed = (await store.listOrganizations()).find((o) => o.id === org);
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
