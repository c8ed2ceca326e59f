import { BlockList, isIP } from 'node:net';

/** `::ffff:10.1.2.3` is the IPv4 address 10.1.2.3 seen by a dual-stack socket. */
export function normalizeIp(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped?.[1] ?? address;
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
