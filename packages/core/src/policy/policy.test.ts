import { describe, expect, it } from 'vitest';
import { IpAllowlist, parseCidr } from './ip-allowlist.js';
import { effectiveScope, scopeAllows, scopeForMethod } from './scopes.js';

describe('scopes', () => {
  it('orders read < agentic < write < admin', () => {
    expect(scopeAllows('agentic', 'read')).toBe(true);
    expect(scopeAllows('agentic', 'agentic')).toBe(true);
    expect(scopeAllows('agentic', 'write')).toBe(false);
    expect(scopeAllows('read', 'agentic')).toBe(false);
    expect(scopeAllows('admin', 'write')).toBe(true);
  });

  it('caps a key at its creator’s current role', () => {
    expect(effectiveScope('admin', 'read')).toBe('read');
    expect(effectiveScope('agentic', 'write')).toBe('agentic');
    expect(effectiveScope('write', 'admin')).toBe('write');
  });

  it('asks read for GET and HEAD, write for everything else', () => {
    expect(scopeForMethod('get')).toBe('read');
    expect(scopeForMethod('HEAD')).toBe('read');
    expect(scopeForMethod('POST')).toBe('write');
    expect(scopeForMethod('DELETE')).toBe('write');
  });
});

describe('IP allowlists', () => {
  it('accepts IPv4 and IPv6 CIDRs and bare addresses, rejects the rest', () => {
    expect(parseCidr('10.0.0.0/8')).toMatchObject({ prefix: 8, family: 'ipv4' });
    expect(parseCidr('::1')).toMatchObject({ prefix: 128, family: 'ipv6' });
    for (const bad of ['999.1.1.1/33', '10.0.0.0/33', '::1/129', 'localhost', '10.0.0.0/8/1', '10.0.0.0/x', '']) {
      expect(parseCidr(bad), bad).toBeNull();
    }
  });

  it('matches addresses, including IPv4 seen through a dual-stack socket', () => {
    const list = new IpAllowlist(['10.0.0.0/8', '2001:db8::/32']);
    expect(list.allows('10.1.2.3')).toBe(true);
    expect(list.allows('::ffff:10.1.2.3')).toBe(true);
    expect(list.allows('127.0.0.1')).toBe(false);
    expect(list.allows('2001:db8::7')).toBe(true);
    expect(list.allows('::1')).toBe(false);
    expect(list.allows('not-an-ip')).toBe(false);
  });
});
