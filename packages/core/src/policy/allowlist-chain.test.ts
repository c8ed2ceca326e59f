import { describe, expect, it } from 'vitest';
import { chainAllowlist, cidrWithin, effectiveAllowlist } from './allowlist-chain.js';

describe('trust: a child key is never wider than any ancestor allowlist', () => {
  it('a block lies within a list only when one entry holds all of it', () => {
    expect(cidrWithin('10.1.0.0/16', ['10.0.0.0/8'])).toBe(true);
    expect(cidrWithin('10.0.0.0/8', ['10.0.0.0/8'])).toBe(true);
    expect(cidrWithin('10.0.0.0/7', ['10.0.0.0/8'])).toBe(false);
    expect(cidrWithin('127.0.0.2', ['127.0.0.1/32'])).toBe(false);
    expect(cidrWithin('::1', ['127.0.0.1/32'])).toBe(false);
    expect(cidrWithin('not a cidr', ['0.0.0.0/0'])).toBe(false);
  });

  it('the allowlist of a chain is the intersection of its non-empty lists; empty lists narrow nothing', () => {
    expect(effectiveAllowlist([[], []])).toEqual([]);
    expect(effectiveAllowlist([[], ['127.0.0.1/32']])).toEqual(['127.0.0.1/32']);
    expect(effectiveAllowlist([['10.1.0.0/16', '192.168.0.0/16'], [], ['10.0.0.0/8']])).toEqual(['10.1.0.0/16']);
    expect(
      effectiveAllowlist([
        ['10.0.0.0/8', '2001:db8::/32'],
        ['10.9.9.9', '2001:db8:1::/48'],
      ]),
    ).toEqual(['10.9.9.9', '2001:db8:1::/48']);
    expect(effectiveAllowlist([['10.0.0.0/8'], ['192.168.0.0/16']])).toBeNull();
  });

  it('the verifier asks every list of the chain: an empty own list does not open what an ancestor closed', () => {
    expect(chainAllowlist([[], []])).toBeNull();
    const held = chainAllowlist([[], ['127.0.0.1/32']]);
    expect(held?.allows('127.0.0.1')).toBe(true);
    expect(held?.allows('127.0.0.2')).toBe(false);
    const both = chainAllowlist([['127.0.0.0/8'], ['127.0.0.1/32', '::1']]);
    expect(both?.allows('127.0.0.1')).toBe(true);
    expect(both?.allows('::ffff:127.0.0.1')).toBe(true);
    expect(both?.allows('127.0.0.2')).toBe(false);
    expect(both?.allows('::1')).toBe(false);
  });

  it('an ancestor whose list is not recorded (an ancestry an older version wrote) is refused everywhere, not crashed on', () => {
    const unknown = chainAllowlist([[], undefined]);
    expect(unknown?.allows('127.0.0.1')).toBe(false);
  });
});
