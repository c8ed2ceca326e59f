import { BlockList, isIP } from 'node:net';
import { ipv6Bytes } from '@keyward/core';

/**
 * IPv4 ranges that are not the public internet (IANA's special-purpose registry): this network, private networks,
 * shared address space (CGNAT), loopback, link-local (cloud metadata at 169.254.169.254), IETF protocol assignments,
 * documentation, the 6to4 relay anycast, benchmarking, multicast, reserved and broadcast.
 */
const V4_NOT_PUBLIC = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.0.2.0/24',
  '192.88.99.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '198.51.100.0/24',
  '203.0.113.0/24',
  '224.0.0.0/3',
] as const;

const v4NotPublic = new BlockList();
for (const cidr of V4_NOT_PUBLIC) {
  const [address, prefix] = cidr.split('/') as [string, string];
  v4NotPublic.addSubnet(address, Number(prefix), 'ipv4');
}

/** Why an address is not a public one (a short phrase), or null when it is. `address` is an IPv4 or IPv6 literal (no brackets). */
export function nonPublicReason(address: string): string | null {
  const version = isIP(address);
  if (version === 4) return v4NotPublic.check(address, 'ipv4') ? 'a private, local or reserved IPv4 range' : null;
  if (version !== 6) return 'not an IP address';
  const b = ipv6Bytes(address);
  const word = (i: number) => ((b[i * 2] as number) << 8) | (b[i * 2 + 1] as number);
  const v4 = (at: number) => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
  const zeros = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  const embedded = (form: string, ip: string) => {
    const why = nonPublicReason(ip);
    return why ? `${form} of ${ip}` : null;
  };
  // Forms that carry an IPv4 address: judged by that address. The translator or tunnel would deliver to it.
  if (zeros(0, 10) && word(5) === 0xffff) return embedded('an IPv4-mapped address', v4(12));
  if (zeros(0, 8) && word(4) === 0xffff && word(5) === 0) return embedded('an IPv4-translated (SIIT) address', v4(12));
  if (word(0) === 0x64 && word(1) === 0xff9b && zeros(4, 12)) return embedded('a NAT64 address', v4(12));
  if (word(0) === 0x2002) return embedded('a 6to4 address', v4(2));
  // Everything else that is public lies in global unicast, 2000::/3. Outside it: ::, ::1, IPv4-compatible ::a.b.c.d,
  // the local-use NAT64 prefix 64:ff9b:1::/48, discard 100::/64, unique local fc00::/7, link-local fe80::/10,
  // site-local fec0::/10, multicast ff00::/8 and everything unassigned.
  if ((word(0) & 0xe000) !== 0x2000) return 'outside IPv6 global unicast (2000::/3)';
  // Inside it, the special ranges: IETF protocol assignments 2001::/23 (Teredo 2001::/32 tunnels to an address its
  // bits hide, ORCHID, benchmarking), documentation 2001:db8::/32 and 3fff::/20.
  if (word(0) === 0x2001 && word(1) < 0x200) return 'an IETF special-purpose range (Teredo 2001::/32, ORCHID, benchmarking)';
  if (word(0) === 0x2001 && word(1) === 0xdb8) return 'a documentation range';
  if (word(0) === 0x3fff && word(1) < 0x1000) return 'a documentation range';
  return null;
}
