import { describe, expect, it } from 'vitest';
import { nonPublicReason } from './addresses.js';

describe('trust: the SSRF guard lets IPv6 transition forms through (the address rule)', () => {
  it('refuses every IPv6 transition form of a non-public IPv4 address, and the non-public IPv6 ranges', () => {
    for (const address of [
      '64:ff9b::a9fe:a9fe', // NAT64 of 169.254.169.254
      '64:ff9b::127.0.0.1',
      '64:ff9b:1::a00:1', // local-use NAT64 prefix
      '2002:7f00:1::', // 6to4 of 127.0.0.1
      '2002:a9fe:a9fe::1', // 6to4 of 169.254.169.254
      '2001:0:4136:e378:8000:63bf:80ff:fffe', // Teredo
      '::127.0.0.1', // IPv4-compatible
      '::7f00:1',
      '::ffff:0:7f00:1', // SIIT of 127.0.0.1
      '::ffff:127.0.0.1', // IPv4-mapped
      '::ffff:a9fe:a9fe',
      'fec0::1', // site-local
      'fc00::1',
      'fd12:3456::1',
      'fe80::1%eth0',
      'ff02::1',
      '::',
      '::1',
      '100::1',
      '2001:db8::1',
      '3fff::1',
    ]) {
      expect(nonPublicReason(address), address).not.toBeNull();
    }
  });

  it('refuses the non-public IPv4 ranges', () => {
    for (const address of [
      '0.0.0.0',
      '10.1.2.3',
      '100.64.0.1',
      '127.0.0.1',
      '169.254.169.254',
      '172.16.0.1',
      '192.0.0.8',
      '192.168.1.1',
      '198.18.0.1',
      '224.0.0.1',
      '240.0.0.1',
      '255.255.255.255',
    ]) {
      expect(nonPublicReason(address), address).not.toBeNull();
    }
  });

  it('admits public addresses, and transition forms of public IPv4 addresses', () => {
    for (const address of [
      '1.1.1.1',
      '8.8.8.8',
      '2606:4700:4700::1111',
      '2a00:1450:4001::200e',
      '64:ff9b::101:101',
      '64:ff9b::1.1.1.1',
      '2002:101:101::1',
      '::ffff:8.8.8.8',
      '2001:4860:4860::8888',
    ]) {
      expect(nonPublicReason(address), address).toBeNull();
    }
  });

  it('names why', () => {
    expect(nonPublicReason('64:ff9b::a9fe:a9fe')).toBe('a NAT64 address of 169.254.169.254');
    expect(nonPublicReason('2002:7f00:1::')).toBe('a 6to4 address of 127.0.0.1');
    expect(nonPublicReason('fec0::1')).toMatch(/global unicast/);
  });
});
