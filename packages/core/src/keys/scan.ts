import { checksumMatches } from './key-format.js';

export interface FoundKey {
  /** The prefix, e.g. `kw_live_`, `nv_test_`, `sandbox:`. */
  prefix: string;
  /** Offset of the key in the text. */
  index: number;
  /** What may be shown: prefix, ellipsis, last 4. Never the key. */
  display: string;
  /** The key itself: only ever sent to the server that issued it (`keyward scan --check`), never printed. */
  key: string;
}

// A prefix (letters, digits, `_`, ending in `_` or `:`), then exactly 42 base62 characters, not glued to more.
const CANDIDATE = /(?<![0-9A-Za-z_:])([A-Za-z][A-Za-z0-9_]{0,30}[_:])([0-9A-Za-z]{42})(?![0-9A-Za-z])/g;

/**
 * Finds keyward-format keys in text without knowing any server's prefixes: the 6-character CRC-32 checksum at the
 * end tells a real key from a look-alike with odds of about one in 57 billion, so there are practically no false
 * positives. This is what `keyward scan` and secret scanners run.
 *
 * @example
 * ```ts
 * findKeys(readFileSync('.env', 'utf8')).map((k) => k.display); // ['kw_live_…x7Qa']
 * ```
 */
export function findKeys(text: string): FoundKey[] {
  const found: FoundKey[] = [];
  for (const m of text.matchAll(CANDIDATE)) {
    const prefix = m[1] as string;
    const body = m[2] as string;
    if (!checksumMatches(body)) continue;
    found.push({ prefix, index: m.index ?? 0, display: `${prefix}…${body.slice(-4)}`, key: prefix + body });
  }
  return found;
}
