import { BlockList } from 'node:net';
import { IpAllowlist, parseCidr } from './ip-allowlist.js';

/**
 * A child key is never wider than any ancestor, and that holds for IP allowlists too: a key may be used from the
 * addresses that its own list *and* every ancestor's list allow. An empty list narrows nothing (any address).
 * This file is the one home of that rule: derive uses it to store the allowlist a child really has, the verifier
 * to check every list of the chain (so a child stored before the rule, with no list of its own, is held as well).
 */

/** What the verifier asks of a key's allowlist: whether a request from `ip` may use it. */
export interface AddressAllowlist {
  allows(ip: string): boolean;
}

/** Whether every address of `cidr` lies in one entry of `allowlist` (a narrower or equal block of the same family). */
export function cidrWithin(cidr: string, allowlist: readonly string[]): boolean {
  const c = parseCidr(cidr);
  if (!c) return false;
  return allowlist.some((entry) => {
    const p = parseCidr(entry);
    if (!p || p.family !== c.family || p.prefix > c.prefix) return false;
    const block = new BlockList();
    block.addSubnet(p.address, p.prefix, p.family);
    return block.check(c.address, c.family);
  });
}

/**
 * The allowlist a key of this chain has (its own list first, then each ancestor's): the addresses every non-empty
 * list allows, as CIDR entries. Two CIDR blocks are either nested or apart, so the intersection of two lists is the
 * entries of each that lie within the other. `[]` when no list narrows (any address); `null` when the lists have
 * no address in common (the key works from nowhere).
 *
 * @example effectiveAllowlist([[], ['10.0.0.0/8'], ['10.1.0.0/16', '192.168.0.0/16']]) // ['10.1.0.0/16']
 */
export function effectiveAllowlist(lists: readonly (readonly string[])[]): string[] | null {
  let region: string[] = [];
  for (const list of lists) {
    if (list.length === 0) continue;
    if (region.length === 0) {
      region = [...new Set(list)];
      continue;
    }
    const both = [...region.filter((c) => cidrWithin(c, list)), ...list.filter((c) => cidrWithin(c, region))];
    region = [...new Set(both)];
    if (region.length === 0) return null;
  }
  return region;
}

/** A chain's lists compiled once (per cached key): an address must be allowed by every non-empty one. */
class ChainAllowlist implements AddressAllowlist {
  constructor(private readonly lists: readonly IpAllowlist[]) {}

  allows(ip: string): boolean {
    return this.lists.every((list) => list.allows(ip));
  }
}

const NOWHERE: AddressAllowlist = { allows: () => false };

/**
 * The verifier's allowlist of a key whose own list comes first and its ancestors' after: null when no list narrows
 * (the hot path then skips the check), else a check that every non-empty list allows the address.
 */
export function chainAllowlist(lists: readonly (readonly string[] | undefined)[]): AddressAllowlist | null {
  // A list that is not there (an ancestry written by a version before this rule, during a rolling upgrade) is not
  // known to allow anything: the key is refused from every address (403) rather than let through or crashed on.
  if (lists.some((list) => !Array.isArray(list))) return NOWHERE;
  const compiled = (lists as readonly (readonly string[])[]).filter((list) => list.length > 0).map((list) => new IpAllowlist(list));
  if (compiled.length === 0) return null;
  return compiled.length === 1 ? (compiled[0] as IpAllowlist) : new ChainAllowlist(compiled);
}
