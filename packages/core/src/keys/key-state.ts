import type { Role, Scope } from '../policy/scopes.js';
import { effectiveScope } from '../policy/scopes.js';

/**
 * Where a key stands at an instant, whatever the request:
 * - `active`: it works;
 * - `grace`: it works, but it was rotated and stops at its deadline (its successor takes over);
 * - `revoked`: revoked by a person, by a rotation without grace, by a leak report, or with an ancestor (revoking a
 *   key writes the time down its whole subtree, so a child of a revoked key reads revoked too);
 * - `expired`: its expiry (its own, or a rotated key's grace end) has passed;
 * - `idle_expired`: it has an idle timeout and went unused for that long (for good, as an expiry);
 * - `retired`: it would work, but its environment is no longer served;
 * - `creator_removed`: the person who made it left the organization.
 */
export type KeyStatus = 'active' | 'grace' | 'revoked' | 'expired' | 'idle_expired' | 'retired' | 'creator_removed';

/** What a key's state is worked out from: times, environment and scope; the creator's role when it is known. */
export interface KeyFacts {
  revokedAt: number | null;
  expiresAt: number | null;
  environment: string;
  scope: Scope;
  /** The key that replaced it, when it was rotated. */
  rotatedTo?: string | null;
  /** The creator's current role; null when they left, absent when the caller does not know it. */
  creatorRole?: Role | null;
  /** Seconds of disuse after which it ends (`idle_expired`); null or absent for none. */
  idleTimeoutSeconds?: number | null;
  /** When it was last used (as far as the usage flush has told storage, or this instance saw), or null for never. */
  lastUsedAt?: number | null;
  /** When it was made: the start of its idleness when it was never used. */
  createdAt?: number;
}

/** The instant a key with an idle timeout ends unless used before; +∞ for a key without one. */
export function idleDeadline(key: KeyFacts): number {
  if (key.idleTimeoutSeconds === null || key.idleTimeoutSeconds === undefined) return Number.POSITIVE_INFINITY;
  const since = Math.max(key.lastUsedAt ?? 0, key.createdAt ?? 0);
  return since + key.idleTimeoutSeconds * 1000;
}

/** Which environments a server serves: a key of any other is retired. */
export interface ServedEnvironments {
  serves(name: string): boolean;
}

export interface KeyState {
  status: KeyStatus;
  /** Whether it works now (`active` or `grace`). */
  usable: boolean;
  /**
   * Whether it can never work again: revoked or expired. A key of a retired environment, or whose creator left, is
   * not usable but not ended: it works again when the environment is served again or the creator comes back.
   */
  ended: boolean;
  /** The instant it stops working: the earlier of revocation and expiry; −∞ when it does not work now. */
  deadline: number;
  /** What it may do: its scope capped by its creator's role; null when it does not work now. */
  scope: Scope | null;
}

/**
 * The one statement of whether a key can be used, for the verifier, its cache, the services, the API and the
 * dashboard alike (storage's SQL of "active" is tested against it). The order is the order a refusal reports: a
 * revoked key is reported revoked whatever else is wrong with it.
 */
export function keyState(key: KeyFacts, now: number, environments: ServedEnvironments): KeyState {
  const status = statusOf(key, now, environments);
  const usable = status === 'active' || status === 'grace';
  const idleAt = idleDeadline(key);
  const ended = (key.revokedAt !== null && key.revokedAt <= now) || (key.expiresAt !== null && key.expiresAt <= now) || idleAt <= now;
  return {
    status,
    usable,
    ended,
    deadline: usable
      ? Math.min(key.revokedAt ?? Number.POSITIVE_INFINITY, key.expiresAt ?? Number.POSITIVE_INFINITY, idleAt)
      : Number.NEGATIVE_INFINITY,
    scope: !usable ? null : key.creatorRole ? effectiveScope(key.scope, key.creatorRole) : key.scope,
  };
}

function statusOf(key: KeyFacts, now: number, environments: ServedEnvironments): KeyStatus {
  if (key.revokedAt !== null && key.revokedAt <= now) return 'revoked';
  if (key.creatorRole === null) return 'creator_removed';
  if (key.expiresAt !== null && key.expiresAt <= now) return 'expired';
  if (idleDeadline(key) <= now) return 'idle_expired';
  if (!environments.serves(key.environment)) return 'retired';
  return key.rotatedTo ? 'grace' : 'active';
}

/**
 * A key's status as the API and the dashboard show it: a key in grace is `active` (it works; `rotated_to` says what
 * replaces it), and one whose creator left reads `revoked`, as verify reports it.
 */
export function shownStatus(state: KeyState): 'active' | 'revoked' | 'expired' | 'retired' {
  switch (state.status) {
    case 'idle_expired':
      return 'expired';
    case 'active':
    case 'grace':
      return 'active';
    case 'creator_removed':
      return 'revoked';
    default:
      return state.status;
  }
}

/**
 * Whether a key heads its lineage, so that it is the one to rotate: it was never rotated, or the successor it was
 * rotated to has been revoked (during its grace period). Then the lineage falls back to it: it keeps its grace
 * deadline and may be rotated again. A successor that still stands (working, or only paused by a retired
 * environment) heads the lineage itself.
 */
export function headsLineage(
  key: Pick<KeyFacts, 'rotatedTo'>,
  successor: KeyFacts | null | undefined,
  now: number,
  environments: ServedEnvironments,
): boolean {
  if (!key.rotatedTo) return true;
  return successor != null && keyState(successor, now, environments).status === 'revoked';
}
