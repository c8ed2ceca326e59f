import { IpAllowlist } from '@keyward/core';
import { LRUCache } from 'lru-cache';
import type { KeyForVerify } from '../storage/store.js';

/** A key as the hot path needs it: the stored record plus its compiled IP allowlist. */
export interface CachedKey {
  key: KeyForVerify;
  allowlist: IpAllowlist | null;
}

/** What one instance tells the others so their caches drop stale entries (Redis pub/sub when configured). */
export type Invalidation = { type: 'key'; keyId: string } | { type: 'creator'; orgId: string; userId: string };

/**
 * Bounded cache of verified look-ups, keyed by the key's hash. Misses (unknown hashes) are cached too, so a flood
 * of made-up keys cannot turn into a flood of database reads; a new key's hash cannot be in it, having never
 * been seen before. Entries expire after `ttlMs` at the latest.
 */
export class KeyCache {
  readonly #entries: LRUCache<string, CachedKey | { missing: true }>;
  readonly #hashById = new Map<string, string>();

  constructor(options: { maxEntries: number; ttlMs: number }) {
    this.#entries = new LRUCache({
      max: options.maxEntries,
      ttl: options.ttlMs,
      ttlAutopurge: false,
      dispose: (value, hash) => {
        if ('key' in value && this.#hashById.get(value.key.id) === hash) this.#hashById.delete(value.key.id);
      },
    });
  }

  get(hash: string): CachedKey | null | undefined {
    const hit = this.#entries.get(hash);
    if (hit === undefined) return undefined;
    return 'missing' in hit ? null : hit;
  }

  set(hash: string, key: KeyForVerify | undefined): CachedKey | null {
    if (!key) {
      this.#entries.set(hash, { missing: true });
      return null;
    }
    const entry = { key, allowlist: key.ipAllowlist.length > 0 ? new IpAllowlist(key.ipAllowlist) : null };
    this.#entries.set(hash, entry);
    this.#hashById.set(key.id, hash);
    return entry;
  }

  apply(event: Invalidation): void {
    if (event.type === 'key') {
      const hash = this.#hashById.get(event.keyId);
      if (hash) this.#entries.delete(hash);
      return;
    }
    for (const [hash, value] of this.#entries.entries()) {
      if ('key' in value && value.key.orgId === event.orgId && value.key.createdBy === event.userId) this.#entries.delete(hash);
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
    this.#hashById.clear();
  }
}
