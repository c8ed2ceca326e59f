import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { IpAllowlist } from '@keyward/core';

/** Addresses a webhook may not reach unless config allows it: this host, private networks, link-local, metadata. */
const PRIVATE = new IpAllowlist([
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '224.0.0.0/3',
  '::/128',
  '::1/128',
  'fc00::/7',
  'fe80::/10',
  'ff00::/8',
]);

/**
 * Why a webhook URL may not be called, or null when it may: an absolute http(s) URL without credentials whose host
 * resolves only to public addresses (https required then). With `allowPrivate` (development, tests), any http(s) URL.
 * Checked when a webhook is registered and again before every try, since DNS answers change.
 */
export async function targetProblem(url: string, allowPrivate: boolean): Promise<string | null> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'url must be an absolute URL';
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return 'url must be an http(s) URL';
  if (u.username || u.password) return 'url must not carry a user name or password';
  if (allowPrivate) return null;
  if (u.protocol !== 'https:') return 'url must use https (webhooks.allow_private_targets allows http for development)';
  const host = u.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address);
  } catch {
    return `the host ${host} does not resolve`;
  }
  const inside = addresses.find((a) => PRIVATE.allows(a));
  return inside ? `url resolves to ${inside}, a private or local address (webhooks.allow_private_targets allows it for development)` : null;
}
