import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { constantTimeEqual, hashKey } from './hash.js';
import { Secret } from './redacted.js';

describe('hashKey', () => {
  it('is keyed: the same key under another secret hashes differently', () => {
    expect(hashKey('s1', 'kw_test_abc')).toMatch(/^[0-9a-f]{64}$/);
    expect(hashKey('s1', 'kw_test_abc')).toBe(hashKey('s1', 'kw_test_abc'));
    expect(hashKey('s1', 'kw_test_abc')).not.toBe(hashKey('s2', 'kw_test_abc'));
  });

  it('compares in constant time and handles length mismatch', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abd')).toBe(false);
    expect(constantTimeEqual('abc', 'abcd')).toBe(false);
  });
});

describe('Secret', () => {
  it('never prints its value by accident', () => {
    const s = new Secret('kw_test_supersecret');
    expect(String(s)).toBe('[REDACTED]');
    expect(JSON.stringify({ s })).toBe('{"s":"[REDACTED]"}');
    expect(inspect(s)).toBe('[REDACTED]');
    expect(`${s}`).not.toContain('supersecret');
    expect(s.reveal()).toBe('kw_test_supersecret');
  });
});
