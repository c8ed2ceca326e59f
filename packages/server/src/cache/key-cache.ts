import { effectiveScope, IpAllowlist, type Scope } from '@keyward/core';
import type { Plan } from '../config/config.js';
import type { KeyForVerify } from '../storage/store.js';

/**
 * A key as the hot path needs it: the stored record plus what can be worked out once per look-up instead of once
 * per request — its compiled IP allowlist, its effective scope (null when its creator left), the instant it stops
 * working (the earlier of revocation and expiry; already past for a key of a retired environment), and its plan.
 */
export interface CachedKey {
  key: KeyForVerify;
  allowlist: IpAllowlist | null;
  scope: Scope | null;
  deadline: number;
  plan: Plan;
}

/** What one instance tells the others so their caches drop stale entries (Redis pub/sub when configured). */
export type Invalidation =
  | { type: 'key'; keyId: string }
  | { type: 'creator'; orgId: string; userId: string }
  | { type: 'org'; orgId: string };

interface Slot {
  value: CachedKey | null;
  expiresAt: number;
}

/**
 * Bounded cache of key look-ups, keyed by a hash of the raw key. Misses (unknown keys of a valid format) are cached
 * too, so a flood of made-up keys cannot turn into a flood of database reads; a new key cannot be among them, its
 * hash never having been seen. Entries live `ttlMs` at most; past `maxEntries` the oldest entry goes first.
 *
 * A Map in insertion order rather than an LRU library: the hit path is one `Map.get` and one comparison, which
 * measured about twice as fast as lru-cache's get with TTL (bench/verify), and with a short TTL the order of
 * eviction matters little.
 */
export class KeyCache {
  readonly #slots = new Map<string, Slot>();
  readonly #hashById = new Map<string, string>();

  constructor(
    private readonly options: { maxEntries: number; ttlMs: number },
    private readonly planFor: (key: KeyForVerify) => Plan,
    /** The environments served; a key of any other is retired (its deadline passed, so policy says why). */
    private readonly served?: ReadonlySet<string>,
  ) {}

  /** The entry (null: known not to exist), or undefined when there is none or it expired. */
  get(hash: string, now: number): CachedKey | null | undefined {
    const slot = this.#slots.get(hash);
    if (slot === undefined) return undefined;
    if (slot.expiresAt <= now) {
      this.#delete(hash, slot);
      return undefined;
    }
    return slot.value;
  }

  set(hash: string, key: KeyForVerify | undefined, now: number): CachedKey | null {
    const value = key ? this.#prepare(key) : null;
    const old = this.#slots.get(hash);
    if (old) this.#delete(hash, old);
    while (this.#slots.size >= this.options.maxEntries) {
      const oldest = this.#slots.keys().next().value as string;
      this.#delete(oldest, this.#slots.get(oldest) as Slot);
    }
    this.#slots.set(hash, { value, expiresAt: now + this.options.ttlMs });
    if (value) this.#hashById.set(value.key.id, hash);
    return value;
  }

  apply(event: Invalidation): void {
    if (event.type === 'key') {
      const hash = this.#hashById.get(event.keyId);
      const slot = hash === undefined ? undefined : this.#slots.get(hash);
      if (hash !== undefined && slot) this.#delete(hash, slot);
      return;
    }
    for (const [hash, slot] of this.#slots) {
      const k = slot.value?.key;
      if (k && k.orgId === event.orgId && (event.type === 'org' || k.createdBy === event.userId)) this.#delete(hash, slot);
    }
  }

  get size(): number {
    return this.#slots.size;
  }

  clear(): void {
    this.#slots.clear();
    this.#hashById.clear();
  }

  #prepare(key: KeyForVerify): CachedKey {
    return {
      key,
      allowlist: key.ipAllowlist.length > 0 ? new IpAllowlist(key.ipAllowlist) : null,
      scope: key.creatorRole === null ? null : effectiveScope(key.scope, key.creatorRole),
      deadline:
        this.served && !this.served.has(key.environment)
          ? Number.NEGATIVE_INFINITY
          : Math.min(key.revokedAt ?? Number.POSITIVE_INFINITY, key.expiresAt ?? Number.POSITIVE_INFINITY),
      plan: this.planFor(key),
    };
  }

  #delete(hash: string, slot: Slot): void {
    this.#slots.delete(hash);
    if (slot.value && this.#hashById.get(slot.value.key.id) === hash) this.#hashById.delete(slot.value.key.id);
  }
}
