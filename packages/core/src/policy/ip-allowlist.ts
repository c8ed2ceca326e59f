import { BlockList, isIP } from 'node:net';

/** `::ffff:10.1.2.3` is the IPv4 address 10.1.2.3 seen by a dual-stack socket. */
export function normalizeIp(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped?.[1] ?? address;
}

/**
 * The 16 bytes of a valid IPv6 literal (`::` expanded, a dotted IPv4 tail read as its four bytes, a zone index
 * dropped). The caller checks validity first (`isIP(text) === 6`).
 *
 * @example ipv6Bytes('::ffff:192.0.2.7').slice(10) // [255, 255, 192, 0, 2, 7]
 */
export function ipv6Bytes(address: string): number[] {
  let text = address.split('%')[0] as string;
  const tail: number[] = [];
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    tail.push(...dotted.slice(1, 5).map(Number));
    text = `${text.slice(0, dotted.index)}0:0`;
  }
  const [head = '', rest] = text.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const words = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const bytes = words.flatMap((w) => [w >> 8, w & 0xff]);
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes;
}

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** Parses `10.0.0.0/8`, `::1/128`, or a bare address (a /32 or /128). Returns null for anything else. */
export function parseCidr(text: string): Cidr | null {
  if (typeof text !== 'string' || text.length > 64) return null;
  const [address = '', prefixText, extra] = text.trim().split('/');
  if (extra !== undefined) return null;
  const version = isIP(address);
  if (version === 0) return null;
  const max = version === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return null;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) return null;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** A compiled allowlist. Built once per cached key, so the check on the hot path is a BlockList look-up. */
export class IpAllowlist {
  readonly #list = new BlockList();
  readonly entries: readonly string[];

  constructor(cidrs: readonly string[]) {
    this.entries = cidrs;
    for (const text of cidrs) {
      const cidr = parseCidr(text);
      if (!cidr) throw new Error(`invalid CIDR ${text}`);
      this.#list.addSubnet(cidr.address, cidr.prefix, cidr.family);
    }
  }

  allows(ip: string): boolean {
    const address = normalizeIp(ip);
    const version = isIP(address);
    if (version === 0) return false;
    return this.#list.check(address, version === 4 ? 'ipv4' : 'ipv6');
  }
}
