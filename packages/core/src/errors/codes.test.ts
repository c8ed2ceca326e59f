import { describe, expect, it } from 'vitest';
import { explainError, KEY_TEXT_WORDS } from './codes.js';

describe('explainError: an envelope in words for a person at a terminal', () => {
  it('finding: `keyward whoami` with a mistyped key said only "No valid API key provided."; now the reason in words', () => {
    expect(explainError({ message: 'No valid API key provided.', reason: 'bad_checksum' })).toBe(
      `No valid API key provided. ${KEY_TEXT_WORDS.bad_checksum}`,
    );
    expect(explainError({ message: 'No valid API key provided.', reason: 'malformed' })).toMatch(/its form or prefix is wrong/);
    // An unknown key is told nothing more.
    expect(explainError({ message: 'No valid API key provided.', reason: 'unknown' })).toBe('No valid API key provided.');
  });

  it('adds the hint and the scopes a refusal names', () => {
    expect(
      explainError({
        message: 'Your API key does not have permission to perform this action.',
        required_scope: 'write',
        key_scope: 'read',
      }),
    ).toBe('Your API key does not have permission to perform this action. (needs write scope; this key has read)');
    expect(explainError({ message: 'No valid API key provided.', hint: 'This API key has been revoked.' })).toBe(
      'No valid API key provided. This API key has been revoked.',
    );
  });
});
