import { describe, expect, it } from 'vitest';
import { headsLineage, type KeyFacts, keyState, shownStatus } from './key-state.js';

const served = { serves: (name: string) => name === 'live' || name === 'test' };
const NOW = Date.UTC(2026, 11, 2);
const key = (over: Partial<KeyFacts> = {}): KeyFacts => ({
  revokedAt: null,
  expiresAt: null,
  environment: 'live',
  scope: 'write',
  ...over,
});

describe('keyState', () => {
  it('a plain key works forever at its own scope', () => {
    expect(keyState(key(), NOW, served)).toEqual({
      status: 'active',
      usable: true,
      ended: false,
      deadline: Number.POSITIVE_INFINITY,
      scope: 'write',
    });
  });

  it('a key works until the earlier of its revocation and its expiry', () => {
    expect(keyState(key({ expiresAt: NOW + 5000, revokedAt: NOW + 1000 }), NOW, served).deadline).toBe(NOW + 1000);
    expect(keyState(key({ expiresAt: NOW + 5000 }), NOW + 5000, served)).toMatchObject({ status: 'expired', usable: false, scope: null });
  });

  it('a revocation counts from its instant on, and wins over every other reason', () => {
    const k = key({ revokedAt: NOW, expiresAt: NOW - 1, environment: 'gone', creatorRole: null });
    expect(keyState(k, NOW, served).status).toBe('revoked');
    expect(keyState(key({ revokedAt: NOW + 1 }), NOW, served).status).toBe('active');
  });

  it('a key whose creator left stops, before expiry or retirement is considered', () => {
    expect(keyState(key({ creatorRole: null }), NOW, served).ended).toBe(false);
    expect(keyState(key({ creatorRole: null, expiresAt: NOW - 1 }), NOW, served)).toMatchObject({
      status: 'creator_removed',
      usable: false,
      ended: true,
      deadline: Number.NEGATIVE_INFINITY,
    });
  });

  it('a key of an environment no longer served is retired, not ended: serving it again revives it', () => {
    expect(keyState(key({ environment: 'staging' }), NOW, served)).toMatchObject({
      status: 'retired',
      usable: false,
      ended: false,
      scope: null,
    });
  });

  it('a rotated key is in grace until its grace ends', () => {
    const rotated = key({ rotatedTo: 'key_2', expiresAt: NOW + 60_000 });
    expect(keyState(rotated, NOW, served)).toMatchObject({ status: 'grace', usable: true, deadline: NOW + 60_000 });
    expect(keyState(rotated, NOW + 60_000, served).status).toBe('expired');
  });

  it("the scope is capped by the creator's current role", () => {
    expect(keyState(key({ scope: 'admin', creatorRole: 'read' }), NOW, served).scope).toBe('read');
    expect(keyState(key({ scope: 'agentic', creatorRole: 'admin' }), NOW, served).scope).toBe('agentic');
  });

  it('the API shows a key in grace as active', () => {
    expect(shownStatus(keyState(key({ rotatedTo: 'key_2', expiresAt: NOW + 1 }), NOW, served))).toBe('active');
    expect(shownStatus(keyState(key({ environment: 'old' }), NOW, served))).toBe('retired');
  });

  it('a key with an idle timeout ends once unused that long, counted from its last use or else its creation', () => {
    const idle = key({ idleTimeoutSeconds: 60, createdAt: NOW - 50_000, lastUsedAt: null });
    expect(keyState(idle, NOW, served)).toMatchObject({ status: 'active', usable: true, deadline: NOW + 10_000 });
    expect(keyState(idle, NOW + 10_000, served)).toMatchObject({ status: 'idle_expired', usable: false, ended: true });
    expect(keyState({ ...idle, lastUsedAt: NOW }, NOW + 10_000, served).status).toBe('active');
    expect(shownStatus(keyState(idle, NOW + 10_000, served))).toBe('expired');
    expect(keyState(key({ idleTimeoutSeconds: null, createdAt: 0 }), NOW, served).status).toBe('active');
  });
});

describe('headsLineage', () => {
  it('a key never rotated heads its lineage; one whose successor stands does not', () => {
    expect(headsLineage(key(), undefined, NOW, served)).toBe(true);
    expect(headsLineage(key({ rotatedTo: 'key_b', expiresAt: NOW + 3_600_000 }), key(), NOW, served)).toBe(false);
    expect(headsLineage(key({ rotatedTo: 'key_b' }), key({ environment: 'gone' }), NOW, served)).toBe(false);
  });

  it('a rotated key whose successor was revoked heads its lineage again', () => {
    const a = key({ rotatedTo: 'key_b', expiresAt: NOW + 3_600_000 });
    expect(headsLineage(a, key({ revokedAt: NOW - 1 }), NOW, served)).toBe(true);
    // a revocation set for later has not happened yet
    expect(headsLineage(a, key({ revokedAt: NOW + 1 }), NOW, served)).toBe(false);
    // a successor that cannot be found is not taken for revoked
    expect(headsLineage(a, null, NOW, served)).toBe(false);
  });
});
