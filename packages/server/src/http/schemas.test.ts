import { describe, expect, it } from 'vitest';
import { fitPersonName, signupBody } from './schemas.js';

describe('a person’s name from the sign-up form', () => {
  it('is cut to what the API accepts, between two characters: never half an emoji', () => {
    const cut = fitPersonName(`${'a'.repeat(99)}🙂🙂`);
    expect(cut).toBe('a'.repeat(99));
    expect(fitPersonName('🙂'.repeat(80))).toBe('🙂'.repeat(50));
    expect(fitPersonName('  Dana  ')).toBe('Dana');
    for (const name of [cut, fitPersonName('🙂'.repeat(80))]) {
      expect(signupBody.safeParse({ email: 'dana@example.com', password: 'long enough', name }).success).toBe(true);
    }
  });
});
