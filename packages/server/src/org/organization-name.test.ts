import { describe, expect, it } from 'vitest';
import { organizationNameFor } from './organization-name.js';

describe('a new organization’s name', () => {
  it('finding: new organizations were called "you\'s organization"; now the person\'s name, or their whole e-mail', () => {
    expect(organizationNameFor('Dana', 'dana@example.com')).toBe("Dana's organization");
    expect(organizationNameFor('James', 'j@example.com')).toBe("James' organization");
    expect(organizationNameFor(null, 'you@example.com')).toBe('Organization of you@example.com');
  });
});
