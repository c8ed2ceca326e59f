import type { Role } from '@keyward/core';
import { describe, expect, it } from 'vitest';
import { type Actor, can, scopesOfNewKeys } from './authorization.js';

const person = (role: Role): Actor => ({ kind: 'user', userId: 'u_me', orgId: 'o', role, memberId: 'm' });
const key = (role: Role, environment = 'live'): Actor => ({ ...person(role), kind: 'key', memberId: '', keyId: 'k_me', environment });

describe('who may do what', () => {
  it('any member sees keys, usage, members and the audit log; only a signed-in admin manages members and webhooks', () => {
    for (const role of ['read', 'write', 'admin'] as const) {
      for (const action of ['key.list', 'usage.read', 'audit.read', 'member.list'] as const) {
        expect(can(person(role), action).allowed).toBe(true);
      }
    }
    expect(can(person('admin'), 'member.invite')).toEqual({ allowed: true });
    expect(can(person('write'), 'member.remove')).toEqual({
      allowed: false,
      message: 'Only admins can manage members.',
      details: { required_role: 'admin' },
    });
    expect(can(person('read'), 'webhook.manage')).toMatchObject({ allowed: false, message: 'Only admins can manage webhooks.' });
    expect(can(key('admin'), 'import.claim')).toMatchObject({ allowed: false, details: { reason: 'session_required' } });
  });

  it('a member creates keys up to their role and manages the keys they made; an admin every key', () => {
    expect(can(person('read'), 'key.create', { environment: 'live', scope: 'write' })).toMatchObject({
      allowed: false,
      details: { allowed_scope: 'read', requested_scope: 'write' },
    });
    expect(scopesOfNewKeys(person('read'), 'live')).toEqual(['read']);
    expect(scopesOfNewKeys(person('write'), 'live')).toEqual(['read', 'agentic', 'write']);
    expect(scopesOfNewKeys(person('admin'), 'live')).toEqual(['read', 'agentic', 'write', 'admin']);
    const theirs = { id: 'k_other', createdBy: 'u_other', environment: 'live' };
    expect(can(person('write'), 'key.revoke', { ...theirs, createdBy: 'u_me' }).allowed).toBe(true);
    expect(can(person('write'), 'key.rotate', theirs)).toMatchObject({
      allowed: false,
      message: 'Only admins and the key’s creator can manage this key.',
    });
    expect(can(person('admin'), 'key.rotate', theirs).allowed).toBe(true);
  });

  it('a key below admin scope only reads and revokes itself; an admin key stays in its environment', () => {
    expect(can(key('write'), 'key.revoke', { id: 'k_me', environment: 'live' }).allowed).toBe(true);
    expect(can(key('write'), 'key.read', { id: 'k_me', environment: 'live' }).allowed).toBe(true);
    expect(can(key('write'), 'key.rotate', { id: 'k_me', environment: 'live' })).toMatchObject({
      allowed: false,
      details: { required_scope: 'admin', key_scope: 'write' },
    });
    expect(can(key('read'), 'key.list')).toMatchObject({ allowed: false, details: { required_scope: 'admin', key_scope: 'read' } });
    expect(can(key('admin', 'test'), 'key.revoke', { id: 'k_live', environment: 'live' })).toMatchObject({
      allowed: false,
      message: 'An admin key manages keys of its own environment (test) only; this key is live.',
    });
    expect(scopesOfNewKeys(key('admin', 'test'), 'live')).toEqual([]);
  });
});
