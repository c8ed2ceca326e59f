import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BASE62_ALPHABET } from './base62.js';
import { checksumOf } from './checksum.js';
import { displayKey, KeyFormat, RANDOM_LENGTH } from './key-format.js';

const format = new KeyFormat([
  { name: 'test', prefix: 'kw_test_' },
  { name: 'live', prefix: 'kw_live_' },
  { name: 'sandbox', prefix: 'sandbox:' },
  { name: 'nanda', prefix: 'nanda_' },
  { name: 'nv', prefix: 'nv_' },
  { name: 'nvtest', prefix: 'nv_test_' },
]);

/** The checksum written out the long way, as a secret scanner would compute it. */
function githubChecksum(random: string): string {
  let n = crc32(random);
  let out = '';
  while (n > 0) {
    out = BASE62_ALPHABET[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out.padStart(6, '0');
}

describe('key format', () => {
  it('mints <prefix><random base62><crc32 base62 checksum> with at least 192 random bits', () => {
    const raw = format.generate('test');
    expect(raw).toMatch(/^kw_test_[0-9A-Za-z]{42}$/);
    const random = raw.slice(8, 8 + RANDOM_LENGTH);
    expect(RANDOM_LENGTH * Math.log2(62)).toBeGreaterThanOrEqual(192);
    expect(raw.slice(-6)).toBe(githubChecksum(random));
    expect(raw.slice(-6)[0]).toMatch(/[0-4]/);
  });

  it('never mints the same key twice', () => {
    const seen = new Set(Array.from({ length: 2000 }, () => format.generate('live')));
    expect(seen.size).toBe(2000);
  });

  it('parses its own keys and names their environment, for every configured prefix', () => {
    for (const env of ['test', 'live', 'sandbox', 'nanda', 'nv', 'nvtest']) {
      const raw = format.generate(env);
      const parsed = format.parse(raw);
      expect(parsed.ok && parsed.key.environment).toBe(env);
      expect(parsed.ok && parsed.key.last4).toBe(raw.slice(-4));
    }
  });

  it('rejects a mistyped key without any storage', () => {
    const raw = format.generate('test');
    const typo = raw.slice(0, 20) + (raw[20] === 'a' ? 'b' : 'a') + raw.slice(21);
    expect(format.parse(typo)).toEqual({ ok: false, reason: 'bad_checksum' });
    expect(format.parse(`${raw}x`)).toEqual({ ok: false, reason: 'bad_length' });
    expect(format.parse(`zz_${raw.slice(3)}`)).toEqual({ ok: false, reason: 'unknown_prefix' });
    expect(format.parse(`kw_test_${'-'.repeat(42)}`)).toEqual({ ok: false, reason: 'bad_characters' });
  });

  it('pads short checksums with zeros', () => {
    expect(checksumOf('')).toBe('000000');
  });

  it('shows a key as prefix and last four', () => {
    expect(displayKey('kw_live_', 'Ab12')).toBe('kw_live_…Ab12');
  });
});
