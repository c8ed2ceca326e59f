import { DEFAULT_KEY_SCOPE, KeywardError, lowerScope, type Role, SCOPES, type Scope, scopeAllows } from '@keyward/core';
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

/** What an action asks of whoever takes it: one row of {@link PERMISSIONS}. */
interface Permission {
  /** The lowest role that may take the action (on every key of the organization, for an action on a key). */
  role: Role;
  /**
   * Only a signed-in person, never a key whatever its scope (`reason: session_required`): organization-wide
   * settings, which an admin key of one environment must not use to reach the other (a new admin, a webhook).
   */
  signedIn?: true;
  /**
   * The action is on one key, of the acting key's own environment. `scope_capped`: any member may, for a scope up to
   * their role. `own_keys`: a member below `role` may, on the keys they made.
   */
  onKey?: 'scope_capped' | 'own_keys';
  /** A key below {@link KEY_ACTS_FROM} may still take it on itself. */
  onItself?: true;
  /** What a refusal says the role is needed for ("Only admins can …"). */
  what?: string;
}

/**
 * Roles as data: who may do what. {@link can} reads it, and so do the pages (through `can()`) to decide which
 * controls to show; nothing else decides by a role's name.
 */
const PERMISSIONS: Record<Action, Permission> = {
  'key.list': { role: 'read' },
  'key.read': { role: 'read', onItself: true },
  'key.create': { role: 'read', onKey: 'scope_capped' },
  'key.rotate': { role: 'admin', onKey: 'own_keys' },
  'key.revoke': { role: 'admin', onKey: 'own_keys', onItself: true },
  'usage.read': { role: 'read' },
  'audit.read': { role: 'read' },
  'member.list': { role: 'read' },
  'member.invite': { role: 'admin', signedIn: true, what: 'manage members' },
  'member.change_role': { role: 'admin', signedIn: true, what: 'manage members' },
  'member.remove': { role: 'admin', signedIn: true, what: 'manage members' },
  'webhook.manage': { role: 'admin', signedIn: true, what: 'manage webhooks' },
  'import.claim': { role: 'admin', signedIn: true, what: 'claim imported keys into the organization' },
};

/** The scope a key needs to act for its creator at all; a key of a lower scope may only read and revoke itself. */
const KEY_ACTS_FROM: Role = 'admin';

const ALLOW: Decision = { allowed: true };
const deny = (message: string, details?: Record<string, string>): Decision => ({
  allowed: false,
  message,
  ...(details ? { details } : {}),
});

/**
 * The one statement of who may do what, read from {@link PERMISSIONS}; every service asks it, pages and routes
 * only use it to hide controls.
 *
 * - Any member sees the organization's keys, usage, members and audit log.
 * - Any member creates keys whose scope is at most their role (a `read` member makes `read` keys).
 * - Admins rotate and revoke every key of the organization; other members the keys they made.
 * - Admins manage members and webhooks and claim imported keys, signed in: no key does (`reason: session_required`).
 * - A key acts as its creator, capped at its own scope; a key without `admin` scope may only revoke itself (and
 *   read itself); an admin key manages only keys of its own environment.
 */
export function can(actor: Actor, action: Action, key?: KeyResource): Decision {
  const permission = PERMISSIONS[action];
  if (actor.kind === 'key' && permission.signedIn) {
    return deny(
      'Members, invitations, roles and webhooks are managed by a signed-in admin, not by keys: sign in to the dashboard (or call with its session cookie).',
      { reason: 'session_required' },
    );
  }
  if (actor.kind === 'key' && !scopeAllows(actor.role, KEY_ACTS_FROM)) {
    const self = key?.id !== undefined && key.id === actor.keyId;
    if (self && permission.onItself) return ALLOW;
    return deny(`This action needs an ${KEY_ACTS_FROM}-scoped key; a key without ${KEY_ACTS_FROM} scope can only revoke itself.`, {
      required_scope: KEY_ACTS_FROM,
      key_scope: actor.role,
    });
  }
  const roleReaches = scopeAllows(actor.role, permission.role);
  if (!roleReaches && permission.onKey !== 'own_keys') {
    return deny(`Only ${permission.role}s can ${permission.what ?? action}.`, { required_role: permission.role });
  }
  if (!permission.onKey) return ALLOW;
  if (!key) return deny('This action needs a key to act on.');
  if (actor.kind === 'key' && key.environment !== actor.environment) {
    return deny(`An admin key manages keys of its own environment (${actor.environment}) only; this key is ${key.environment}.`);
  }
  if (permission.onKey === 'scope_capped') {
    const asked = key.scope;
    if (asked && !scopeAllows(actor.role, asked)) {
      return deny(`Your role (${actor.role}) lets you create keys of scope ${actor.role} at most; you asked for ${asked}.`, {
        allowed_scope: actor.role,
        requested_scope: asked,
      });
    }
    return ALLOW;
  }
  if (roleReaches || key.createdBy === actor.userId) return ALLOW;
  return deny(`Only ${permission.role}s and the key’s creator can manage this key.`);
}

/** A scope request as who may decide it needs to know it: the person its key acts for, and the scope asked. */
export interface ScopeRequestResource {
  userId: string;
  scope: Scope;
}

/**
 * Who may decide an agent's scope request: a signed-in person (never a key); the person the key acts for when their
 * current role allows the scope asked, else the organization's admins. Approving grants at most the approver's own
 * role (the narrower scopes {@link grantableScopes} lists); denying needs the same standing, and the person the key
 * acts for may always deny their own agent's request.
 */
export function canDecideScopeRequest(
  actor: Actor,
  request: ScopeRequestResource,
  decision: 'approve' | 'deny',
  requesterRole: Role | null,
): Decision {
  if (actor.kind !== 'user') {
    return deny('Scope requests are decided by a signed-in person, not by keys.', { reason: 'session_required' });
  }
  const own = actor.userId === request.userId;
  if (decision === 'deny' && own) return ALLOW;
  if (own && requesterRole !== null && scopeAllows(requesterRole, request.scope)) return ALLOW;
  if (actor.role === 'admin') return ALLOW;
  return deny(
    `Your role (${actor.role}) cannot approve ${request.scope}: nobody approves a scope above their own role, so an admin decides this request.`,
    { required_role: 'admin' },
  );
}

/** The scopes an approver may grant for a request: at most what was asked and at most their own role, weakest first. */
export function grantableScopes(actor: Actor, asked: Scope): Scope[] {
  return SCOPES.filter((s) => scopeAllows(asked, s) && scopeAllows(actor.role, s));
}

/** The scopes the actor may give a new key of the environment, weakest first: what a form offers. */
export function scopesOfNewKeys(actor: Actor, environment: string): Scope[] {
  return SCOPES.filter((scope) => can(actor, 'key.create', { environment, scope }).allowed);
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
