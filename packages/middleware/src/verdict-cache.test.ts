import type { VerifyOutcome } from '@keyward/core';
import { describe, expect, it } from 'vitest';
import { tupleOf, VerdictCache } from './verdict-cache.js';

type Valid = Extract<VerifyOutcome, { valid: true }>;
const valid = (id: string, extra: { org?: string; owner?: string; until?: number | null; ancestors?: string[] } = {}): Valid => ({
  valid: true,
  key: { id, name: id, environment: 'live', scope: 'write', organizationId: extra.org ?? 'org_1', ownerId: extra.owner ?? 'usr_1' },
  ratelimit: null,
  cache: { limited: false, until: extra.until ?? null, ancestorIds: extra.ancestors ?? [] },
});

describe('the verdict cache of the remote verifier', () => {
  it('keeps one verdict per key, environment, scope, address and resource; the path does not matter', () => {
    const base = { key: 'kw_live_x', environment: 'live', method: 'GET', path: '/a', ip: '10.0.0.1' };
    expect(tupleOf(base)).toBe(tupleOf({ ...base, path: '/b' }));
    expect(tupleOf(base)).toBe(tupleOf({ ...base, scope: 'read' }));
    for (const other of [{ ip: '10.0.0.2' }, { method: 'POST' }, { environment: 'test' }, { resource: 'https://a.example' }]) {
      expect(tupleOf({ ...base, ...other })).not.toBe(tupleOf(base));
    }
  });

  it('is bounded by count (the oldest goes first) and by age, and honours the key’s deadline', () => {
    const cache = new VerdictCache({ maxEntries: 2, keepMs: 1000 });
    cache.set('a', valid('key_a'), 0);
    cache.set('b', valid('key_b', { until: 500 }), 0);
    cache.set('c', valid('key_c'), 0);
    expect(cache.get('a', 1)).toBeUndefined();
    expect(cache.get('b', 499)?.outcome.key.id).toBe('key_b');
    expect(cache.get('b', 500)).toBeUndefined();
    expect(cache.get('c', 999)).toBeDefined();
    expect(cache.get('c', 1000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('drops a key’s verdicts when it or a key it was derived from changes, and an organization’s or creator’s on theirs', () => {
    const cache = new VerdictCache({ maxEntries: 100, keepMs: 60_000 });
    cache.set('parent', valid('key_p'), 0);
    cache.set('child', valid('key_c', { ancestors: ['key_p'] }), 0);
    cache.set('other', valid('key_o', { org: 'org_2', owner: 'usr_2' }), 0);
    cache.set('mine', valid('key_m', { org: 'org_2', owner: 'usr_3' }), 0);
    cache.dropKey('key_p');
    expect(cache.get('parent', 1)).toBeUndefined();
    expect(cache.get('child', 1)).toBeUndefined();
    cache.dropOrganization('org_2', 'usr_3');
    expect(cache.get('mine', 1)).toBeUndefined();
    expect(cache.get('other', 1)).toBeDefined();
    cache.dropOrganization('org_2');
    expect(cache.size).toBe(0);
  });
});
