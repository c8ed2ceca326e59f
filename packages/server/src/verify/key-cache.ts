import { type AddressAllowlist, type CacheHint, chainAllowlist, type KeyState, keyState, type ServedEnvironments } from '@keyward/core';
import type { Invalidation } from '../cache/invalidation-bus.js';
import { capPlan, type Plan } from '../config/config.js';
import type { CheckedKey, KeyForVerify } from '../entities.js';
import type { Meter } from '../limits/limiter.js';

export type { CheckedKey };

/** The limits one key holds, counted per lineage: what the limiter's meter for it is made from. */
export interface MeterSpec {
  /** The key whose limits these are (the verified key or one of its ancestors) and its lineage, which counts. */
  keyId: string;
  lineageId: string;
  requestsPerMinute: number | null;
  monthlyRequests: number | null;
  budget: number | null;
}

/**
 * A key as the hot path needs it: the stored record plus what can be worked out once per look-up instead of once
 * per request — its compiled IP allowlist (its own and every ancestor's), its state (`keyState`: whether it works,
 * until when, at which effective scope; ancestors pass their end down to it, and a key of a retired environment is
 * already past its deadline), its plan (capped by its own limits), and the meters a request counts towards: its own
 * and each ancestor's that has any limit (none for a key without limits, which skips the limiter).
 */
export interface CachedKey {
  key: KeyForVerify;
  /** Its own allowlist and every ancestor's, each of which must allow a request's address; null when none narrows. */
  allowlist: AddressAllowlist | null;
  /** Where it stood when looked up; past `state.deadline` the policy works it out again, to say why. */
  state: KeyState;
  /** What a valid answer carries; null when the key did not work when looked up. */
  checked: CheckedKey | null;
  plan: Plan;
  meters: MeterSpec[];
  /** What a valid answer tells a remote verifier about reusing it: limited when any meter counts, until the deadline. */
  hint: CacheHint;
  /** The limiter's meters built from `meters`, kept until the month they count ends (the verifier's); null until then. */
  built: { until: number; meters: Meter[] } | null;
}

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
  /** Cached child keys by each of their ancestors: revoking a key drops its whole subtree from the cache. */
  readonly #descendants = new Map<string, Set<string>>();

  constructor(
    private readonly options: { maxEntries: number; ttlMs: number },
    private readonly planFor: (key: { tier: string; orgPlan: string }) => Plan,
    /** The environments served; a key of any other is retired (its deadline passed, so policy says why). */
    private readonly environments: ServedEnvironments,
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
    const value = key ? this.#prepare(key, now) : null;
    const old = this.#slots.get(hash);
    if (old) this.#delete(hash, old);
    while (this.#slots.size >= this.options.maxEntries) {
      const oldest = this.#slots.keys().next().value as string;
      this.#delete(oldest, this.#slots.get(oldest) as Slot);
    }
    this.#slots.set(hash, { value, expiresAt: now + this.options.ttlMs });
    if (value) {
      this.#hashById.set(value.key.id, hash);
      for (const a of value.key.ancestors) {
        const below = this.#descendants.get(a.id);
        if (below) below.add(hash);
        else this.#descendants.set(a.id, new Set([hash]));
      }
    }
    return value;
  }

  /**
   * A key with an idle timeout was just used here: its idleness starts again now (storage learns it at the next
   * usage flush; until then this instance knows better than its look-up did).
   */
  touch(entry: CachedKey, now: number): void {
    entry.key.lastUsedAt = now;
    entry.state = keyState(entry.key, now, this.environments);
  }

  apply(event: Invalidation): void {
    if (event.type === 'key') {
      const hash = this.#hashById.get(event.keyId);
      const slot = hash === undefined ? undefined : this.#slots.get(hash);
      if (hash !== undefined && slot) this.#delete(hash, slot);
      for (const below of [...(this.#descendants.get(event.keyId) ?? [])]) {
        const s = this.#slots.get(below);
        if (s) this.#delete(below, s);
      }
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
    this.#descendants.clear();
  }

  #prepare(key: KeyForVerify, now: number): CachedKey {
    const tierPlan = this.planFor(key);
    const plan = capPlan(tierPlan, key);
    const meters: MeterSpec[] = [];
    for (const k of [key, ...key.ancestors]) {
      const limits = k === key ? plan : capPlan(tierPlan, k);
      if (limits.requestsPerMinute === null && limits.monthlyRequests === null && k.budget === null) continue;
      meters.push({
        keyId: k.id,
        lineageId: k.lineageId,
        requestsPerMinute: limits.requestsPerMinute,
        monthlyRequests: limits.monthlyRequests,
        budget: k.budget,
      });
    }
    const state = keyState(key, now, this.environments);
    return {
      key,
      allowlist: chainAllowlist([key.ipAllowlist, ...key.ancestors.map((a) => a.ipAllowlist)]),
      state,
      checked: state.scope === null ? null : { record: key, scope: state.scope, plan },
      plan,
      meters,
      hint: {
        limited: meters.length > 0,
        until: Number.isFinite(state.deadline) ? state.deadline : null,
        ancestorIds: key.ancestors.map((a) => a.id),
      },
      built: null,
    };
  }

  #delete(hash: string, slot: Slot): void {
    this.#slots.delete(hash);
    const key = slot.value?.key;
    if (!key) return;
    if (this.#hashById.get(key.id) === hash) this.#hashById.delete(key.id);
    for (const a of key.ancestors) {
      const below = this.#descendants.get(a.id);
      below?.delete(hash);
      if (below?.size === 0) this.#descendants.delete(a.id);
    }
  }
}
