import { describe, expect, it } from 'vitest';
import { fromWire, toWire, type VerifyOutcome, VerifyWireError } from './contract.js';

describe('the verify contract on the wire', () => {
  it('round-trips an allowed key and a refusal through toWire and fromWire unchanged', () => {
    const allowed: VerifyOutcome = {
      valid: true,
      key: {
        id: 'key_1',
        name: "Dana's laptop",
        environment: 'live',
        scope: 'write',
        organizationId: 'org_1',
        metadata: { team: 'ops' },
        tier: 'pro',
        ownerId: 'usr_1',
        expiresAt: Date.UTC(2027, 0, 1),
      },
      ratelimit: { limit: 60, remaining: 59, reset: 1 },
    };
    const refused: VerifyOutcome = {
      valid: false,
      code: 'QUOTA_EXCEEDED',
      message: 'used up',
      keyId: 'key_1',
      environment: 'live',
      retryAfterSeconds: 3600,
      ratelimit: { limit: 1000, remaining: 0, reset: 3600 },
    };
    for (const o of [allowed, refused]) expect(fromWire(JSON.parse(JSON.stringify(toWire(o))))).toEqual(o);
  });

  it('refuses answers that break the contract instead of letting a request through on a guess', () => {
    expect(() => fromWire('ok')).toThrow(VerifyWireError);
    expect(() => fromWire({ valid: 'yes' })).toThrow('valid must be true or false');
    expect(() => fromWire({ valid: true, key_id: 'k', name: 'n', environment: 'e', scope: 'root', organization_id: 'o' })).toThrow(
      'scope must be one of',
    );
    expect(() => fromWire({ valid: false, code: 'TEAPOT', message: 'x' })).toThrow('code must be one of');
    expect(() =>
      fromWire({ valid: true, key_id: 'k', name: 'n', environment: 'e', scope: 'read', organization_id: 'o', ratelimit: { limit: '60' } }),
    ).toThrow('ratelimit');
  });

  it('carries the cache hint a verifier credential is given, and an answer without one reads as before', () => {
    const base = { valid: true, key_id: 'k', name: 'n', environment: 'live', scope: 'read', ratelimit: null } as const;
    const hinted: VerifyOutcome = {
      valid: true,
      key: { id: 'k', name: 'n', environment: 'live', scope: 'read' },
      ratelimit: null,
      cache: { limited: false, until: Date.UTC(2027, 5, 1), ancestorIds: ['key_parent'] },
    };
    expect(fromWire(JSON.parse(JSON.stringify(toWire(hinted))))).toEqual(hinted);
    expect(toWire(hinted)).toMatchObject({ cache: { limited: false, until: '2027-06-01T00:00:00.000Z', ancestor_ids: ['key_parent'] } });
    expect(fromWire(base)).not.toHaveProperty('cache');
    expect(() => fromWire({ ...base, cache: { limited: 'no', until: null, ancestor_ids: [] } })).toThrow('cache must be');
    expect(() => fromWire({ ...base, cache: { limited: false, until: 'soon', ancestor_ids: [] } })).toThrow('cache must be');
    expect(() => fromWire({ ...base, cache: { limited: false, until: null } })).toThrow('cache must be');
  });
});
