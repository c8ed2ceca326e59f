import type { VerifyOutcome, VerifyRequest } from '@keyward/core';
import { describe, expect, it } from 'vitest';
import { VerdictCache } from './verdict-cache.js';

type Valid = Extract<VerifyOutcome, { valid: true }>;
const valid = (id: string, extra: { org?: string; owner?: string; until?: number | null; ancestors?: string[] } = {}): Valid => ({
  valid: true,
  key: { id, name: id, environment: 'live', scope: 'write', organizationId: extra.org ?? 'org_1', ownerId: extra.owner ?? 'usr_1' },
  ratelimit: null,
  cache: { limited: false, until: extra.until ?? null, ancestorIds: extra.ancestors ?? [] },
});
const req = (key: string, extra: Partial<VerifyRequest> = {}): VerifyRequest => ({
  key,
  environment: 'live',
  method: 'GET',
  path: '/a',
  ip: '10.0.0.1',
  ...extra,
});

describe('the verdict cache of the remote verifier', () => {
  it('keeps one verdict per key, environment, scope, address and resource; the path does not matter', () => {
    const cache = new VerdictCache({ maxEntries: 100, keepMs: 60_000 });
    cache.set(req('kw_live_x'), valid('key_x'), 0);
    expect(cache.get(req('kw_live_x', { path: '/b' }), 1)).toBeDefined();
    expect(cache.get(req('kw_live_x', { scope: 'read' }), 1)).toBeDefined();
    for (const other of [{ ip: '10.0.0.2' }, { method: 'POST' }, { environment: 'test' }, { resource: 'https://a.example' }]) {
      expect(cache.get(req('kw_live_x', other), 1), JSON.stringify(other)).toBeUndefined();
    }
  });

  it('is bounded by count (the oldest goes first) and by age, and honours the key’s deadline', () => {
    const cache = new VerdictCache({ maxEntries: 2, keepMs: 1000 });
    cache.set(req('a'), valid('key_a'), 0);
    cache.set(req('b'), valid('key_b', { until: 500 }), 0);
    cache.set(req('c'), valid('key_c'), 0);
    expect(cache.size).toBe(2);
    expect(cache.get(req('a'), 1)).toBeUndefined();
    expect(cache.get(req('b'), 499)?.outcome.key.id).toBe('key_b');
    expect(cache.get(req('b'), 500)).toBeUndefined();
    expect(cache.get(req('c'), 999)).toBeDefined();
    expect(cache.get(req('c'), 1000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('drops a key’s verdicts when it or a key it was derived from changes, and an organization’s or creator’s on theirs', () => {
    const cache = new VerdictCache({ maxEntries: 100, keepMs: 60_000 });
    cache.set(req('parent'), valid('key_p'), 0);
    cache.set(req('child'), valid('key_c', { ancestors: ['key_p'] }), 0);
    cache.set(req('child', { ip: '10.0.0.9' }), valid('key_c', { ancestors: ['key_p'] }), 0);
    cache.set(req('other'), valid('key_o', { org: 'org_2', owner: 'usr_2' }), 0);
    cache.set(req('mine'), valid('key_m', { org: 'org_2', owner: 'usr_3' }), 0);
    cache.dropKey('key_p');
    expect(cache.get(req('parent'), 1)).toBeUndefined();
    expect(cache.get(req('child'), 1)).toBeUndefined();
    expect(cache.get(req('child', { ip: '10.0.0.9' }), 1)).toBeUndefined();
    cache.dropOrganization('org_2', 'usr_3');
    expect(cache.get(req('mine'), 1)).toBeUndefined();
    expect(cache.get(req('other'), 1)).toBeDefined();
    cache.dropOrganization('org_2');
    expect(cache.size).toBe(0);
  });
});
