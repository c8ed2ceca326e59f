import type { ApiKey, Member, Store } from './store.js';

let n = 0;
/** A fresh id with a prefix: one counter for every contract, so that no two cases share a row. */
export const id = (p: string) => `${p}_${String(++n).padStart(22, '0')}`;

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
    idleTimeoutSeconds: null,
    scopeRequest: null,
    ...over,
  };
}

/**
 * What every aggregate's contract starts from: the store under test and the account made in it first (an admin of
 * its own organization). Filled in by the suite's `beforeAll`, so read it inside hooks and cases only.
 */
export interface ContractStore {
  store: Store;
  orgId: string;
  userId: string;
  member: Member;
}

/** A fresh organization with one admin, for the cases that count or race. */
export async function newOrg({ store, member }: ContractStore, plan = 'free') {
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
