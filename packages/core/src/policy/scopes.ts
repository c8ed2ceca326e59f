/** Key scopes, weakest first. A scope allows everything the scopes before it allow. */
export const SCOPES = ['read', 'agentic', 'write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** A member's role in an organization. Roles use the scope names, without `agentic`. */
export const ROLES = ['read', 'write', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const SCOPE_DESCRIPTIONS: Record<Scope, string> = {
  read: 'Read-only: GET and HEAD requests, analytics, monitoring and reporting.',
  agentic: 'For SDK integrations and governed agents: everything read allows, plus agent actions.',
  write: 'Create and update resources: everything agentic allows, plus writes.',
  admin: 'Full access, including key and member management. For internal tooling, not for agents.',
};

/**
 * The scope a new key gets when none is asked for, capped at its creator's role: one default for the API, the
 * dashboard, `keyward keys create` and agent sign-in. `write` is what the seeds' keys do by default (Nuvion's
 * "create and update resources"); an agent that needs less asks for less.
 */
export const DEFAULT_KEY_SCOPE: Scope = 'write';

const RANK: Record<Scope, number> = { read: 0, agentic: 1, write: 2, admin: 3 };

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && Object.hasOwn(RANK, value);
}

export function scopeAllows(granted: Scope, required: Scope): boolean {
  return RANK[granted] >= RANK[required];
}

export function lowerScope(a: Scope, b: Scope): Scope {
  return RANK[a] <= RANK[b] ? a : b;
}

/**
 * What a key may do right now: its own scope, capped by its creator's current role. Nuvion's rule: a key never
 * exceeds the person who made it; demote them and the key shrinks on the next request.
 */
export function effectiveScope(keyScope: Scope, creatorRole: Role): Scope {
  return lowerScope(keyScope, creatorRole);
}

/** The default a route needs when it declares nothing: reads need `read`, everything else `write`. */
export function scopeForMethod(method: string): Scope {
  const m = method.toUpperCase();
  return m === 'GET' || m === 'HEAD' || m === 'OPTIONS' ? 'read' : 'write';
}
