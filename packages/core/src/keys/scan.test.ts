import { describe, expect, it } from 'vitest';
import { KeyFormat } from './key-format.js';
import { findKeys } from './scan.js';

const format = new KeyFormat([
  { name: 'live', prefix: 'kw_live_' },
  { name: 'sandbox', prefix: 'sandbox:' },
  { name: 'nanda', prefix: 'nanda_' },
]);

describe('findKeys', () => {
  it('finds real keys of any prefix in text, and shows only prefix and last four', () => {
    const live = format.generate('live');
    const sandbox = format.generate('sandbox');
    const nanda = format.generate('nanda');
    const text = `KEYWARD_API_KEY=${live}\nconst k = "${sandbox}";\ncurl -H "Authorization: Bearer ${nanda}"`;
    const found = findKeys(text);
    expect(found.map((f) => f.display)).toEqual([
      `kw_live_…${live.slice(-4)}`,
      `sandbox:…${sandbox.slice(-4)}`,
      `nanda_…${nanda.slice(-4)}`,
    ]);
    // What may be shown never holds the key; the key itself is there only to be sent to its server (scan --check).
    expect(found.map((f) => f.display).join(' ')).not.toContain(live.slice(8, 30));
    expect(found.map((f) => f.key)).toEqual([live, sandbox, nanda]);
  });

  it('ignores look-alikes: a wrong checksum, a wrong length, a key glued into a longer token', () => {
    const live = format.generate('live');
    const typo = `${live.slice(0, 20)}${live[20] === 'a' ? 'b' : 'a'}${live.slice(21)}`;
    expect(findKeys(typo)).toEqual([]);
    expect(findKeys(`${live}x`)).toEqual([]);
    expect(findKeys(`x${live.slice(0, -1)}`)).toEqual([]);
    expect(findKeys(`kw_live_${'A'.repeat(42)}`)).toEqual([]);
  });
});
