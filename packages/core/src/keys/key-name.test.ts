import { describe, expect, it } from 'vitest';
import { fitKeyName, importedKeyName, KEY_NAME_MAX, KEY_NAME_RULE, keyNameProblem } from './key-name.js';

describe('the key-name rule', () => {
  it('takes free text up to 100 characters, counted as characters rather than UTF-16 units', () => {
    expect(keyNameProblem("Dana's laptop; CI")).toBeNull();
    expect(keyNameProblem('🔑'.repeat(KEY_NAME_MAX))).toBeNull();
    expect(keyNameProblem('🔑'.repeat(KEY_NAME_MAX + 1))).toBe('name must be at most 100 characters');
    expect(keyNameProblem('')).toBe('name must not be empty');
  });

  it('refuses what is not text: control characters, line separators, bidirectional overrides', () => {
    for (const bad of ['a\nb', 'a\u0000b', 'a\u0085b', 'a\u2028b', 'abc\u202egnp.exe', 'a\u2066b'])
      expect(keyNameProblem(bad)).toBe(KEY_NAME_RULE);
  });
});

describe('fitKeyName', () => {
  it('cuts a name of emoji past 100 characters on a character boundary, never inside a surrogate pair', () => {
    const fitted = fitKeyName('🔑'.repeat(150));
    expect(fitted).toBe('🔑'.repeat(100));
    expect(fitted.length).toBe(200);
    expect(keyNameProblem(fitted)).toBeNull();
    // Where slice(0, 100) would have cut: 99 ASCII letters, then an emoji whose first half is unit 100.
    const mixed = fitKeyName(`${'a'.repeat(99)}🔑🔑`);
    expect(mixed).toBe(`${'a'.repeat(99)}🔑`);
    expect(/[\ud800-\udbff]$/.test(mixed)).toBe(false);
  });

  it('trims, and leaves a short name as it is; what is not text stays for the rule to refuse', () => {
    expect(fitKeyName('  ci-pipeline ')).toBe('ci-pipeline');
    expect(fitKeyName(`${'x'.repeat(99)} tail`)).toBe('x'.repeat(99));
    expect(keyNameProblem(fitKeyName('line one\nline two'))).toBe(KEY_NAME_RULE);
  });
});

describe('importedKeyName', () => {
  it('keeps a foreign name as text: what is not text becomes a space, 100 characters at most', () => {
    expect(importedKeyName("Dana's laptop; CI")).toBe("Dana's laptop; CI");
    expect(importedKeyName('line one\nline two\u202e')).toBe('line one line two');
    expect([...importedKeyName('🔑'.repeat(150))]).toHaveLength(100);
    expect(importedKeyName('\u0000\u0007')).toBe('');
  });
});
