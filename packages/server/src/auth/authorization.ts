import { DEFAULT_KEY_SCOPE, KeywardError, lowerScope, type Role, type Scope, scopeAllows } from '@keyward/core';
import type { Member } from '../entities.js';

/**
 * Who a request acts for, once authenticated: a signed-in person, or a key acting for the person who made it.
 * `role` is what the actor may do in the organization: a person's role, or a key's effective scope (its scope
 * capped by its creator's current role; `agentic` counts as `read` here, since roles have no agentic rung).
 */
export interface Actor {
  kind: 'user' | 'key';
  userId: string;
  orgId: string;
  role: Role;
  memberId: string;
  /** The key, when a key made the call. */
  keyId?: string;
  /** The key's environment, when a key made the call: an admin key manages only keys of its own environment. */
  environment?: string;
}

/** Everything a member or key may ask keyward to do, by name. */
export type Action =
  | 'key.list'
  | 'key.read'
  | 'key.create'
  | 'key.rotate'
  | 'key.revoke'
  | 'usage.read'
  | 'audit.read'
  | 'member.list'
  | 'member.invite'
  | 'member.change_role'
  | 'member.remove'
  | 'webhook.manage'
  /** Bringing keys an import holds for a claim link into the organization. */
  | 'import.claim';

/** The key an action is about: who made it, its environment, and (for creation) the scope asked for. */
export interface KeyResource {
  id?: string;
  createdBy?: string;
  environment: string;
  scope?: Scope;
}

export type Decision = { allowed: true } | { allowed: false; message: string; details?: Record<string, string> };

const ALLOW: Decision = { allowed: true };
const deny = (message: string, details?: Record<string, string>): Decision => ({
  allowed: false,
  message,
  ...(details ? { details } : {}),
});

/** Actions any member may take whatever their role: seeing the organization's keys, usage, members and audit log. */
const ANY_MEMBER = new Set<Action>(['key.list', 'key.read', 'usage.read', 'audit.read', 'member.list']);
/**
 * Organization-wide settings: members, invitations, roles and webhooks. A signed-in admin manages them, never a key
 * (whatever its scope): an admin key of one environment must not reach the other through a new admin or a webhook.
 */
const SIGNED_IN_ADMIN = new Set<Action>(['member.invite', 'member.change_role', 'member.remove', 'webhook.manage', 'import.claim']);
const WHAT_ADMINS_MANAGE: Partial<Record<Action, string>> = {
  'webhook.manage': 'manage webhooks',
  'import.claim': 'claim imported keys into the organization',
};

/**
 * The one statement of who may do what; every service asks it, pages and routes only use it to hide controls.
 *
 * - Any member sees the organization's keys, usage, members and audit log.
 * - Any member creates keys whose scope is at most their role (a `read` member makes `read` keys).
 * - Admins rotate and revoke every key of the organization; other members the keys they made.
 * - Admins manage members and webhooks and claim imported keys, signed in: no key does (`reason: session_required`).
 * - A key acts as its creator, capped at its own scope; a key without `admin` scope may only revoke itself (and
 *   read itself); an admin key manages only keys of its own environment.
 */
export function can(actor: Actor, action: Action, key?: KeyResource): Decision {
  if (actor.kind === 'key' && SIGNED_IN_ADMIN.has(action)) {
    return deny(
      'Members, invitations, roles and webhooks are managed by a signed-in admin, not by keys: sign in to the dashboard (or call with its session cookie).',
      { reason: 'session_required' },
    );
  }
  if (actor.kind === 'key' && actor.role !== 'admin') {
    const self = key?.id !== undefined && key.id === actor.keyId;
    if (self && (action === 'key.revoke' || action === 'key.read')) return ALLOW;
    return deny('This action needs an admin-scoped key; a key without admin scope can only revoke itself.', {
      required_scope: 'admin',
      key_scope: actor.role,
    });
  }
  if (ANY_MEMBER.has(action)) return ALLOW;
  if (SIGNED_IN_ADMIN.has(action))
    return actor.role === 'admin'
      ? ALLOW
      : deny(`Only admins can ${WHAT_ADMINS_MANAGE[action] ?? 'manage members'}.`, { required_role: 'admin' });
  if (!key) return deny('This action needs a key to act on.');
  if (actor.kind === 'key' && key.environment !== actor.environment) {
    return deny(`An admin key manages keys of its own environment (${actor.environment}) only; this key is ${key.environment}.`);
  }
  if (action === 'key.create') {
    const asked = key.scope;
    if (asked && !scopeAllows(actor.role, asked)) {
      return deny(`Your role (${actor.role}) lets you create keys of scope ${actor.role} at most; you asked for ${asked}.`, {
        allowed_scope: actor.role,
        requested_scope: asked,
      });
    }
    return ALLOW;
  }
  // key.rotate, key.revoke
  if (actor.role === 'admin' || key.createdBy === actor.userId) return ALLOW;
  return deny('Only admins and the key’s creator can manage this key.');
}

/** {@link can}, as a 403 when the answer is no. */
export function authorize(actor: Actor, action: Action, key?: KeyResource): void {
  const decision = can(actor, action, key);
  if (!decision.allowed) throw new KeywardError('forbidden', decision.message, {}, decision.details);
}

/** The scope a new key gets: the one asked for, else the one default capped at what its creator may hold. */
export function scopeForNewKey(actor: Actor, asked?: Scope): Scope {
  return asked ?? lowerScope(DEFAULT_KEY_SCOPE, actor.role);
}

/** A signed-in person as an actor: themselves, in the member's organization, with the member's current role. */
export function actorOfMember(member: Member & { userId: string }): Actor {
  return { kind: 'user', userId: member.userId, orgId: member.orgId, role: member.role, memberId: member.id };
}

/** What a key's effective scope means as a role in the organization: the rung it reaches, `agentic` as `read`. */
export function roleOfScope(scope: Scope): Role {
  return scope === 'agentic' ? 'read' : scope;
}
