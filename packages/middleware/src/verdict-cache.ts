import type { VerifyOutcome, VerifyRequest } from '@keyward/core';
import { scopeForMethod } from '@keyward/core';

type Valid = Extract<VerifyOutcome, { valid: true }>;

/** A valid answer kept for one request tuple: when it was given and until when it may stand. */
export interface Verdict {
  outcome: Valid;
  /** When keyward gave it (epoch ms). */
  at: number;
  /** When the key stops working (expiry, end of grace), or Infinity. */
  until: number;
}

/**
 * What keyward's answer depends on, and nothing else: the key, the environment served, the scope needed (a route's,
 * or the method's), the client's address (allowlists) and the resource. The path and the cost do not change the
 * answer for a key without limits (the only ones kept), so requests to any path share one verdict.
 */
export function tupleOf(r: VerifyRequest): string {
  const scope = r.scope ?? (r.method ? scopeForMethod(r.method) : '');
  return `${r.key}\n${r.environment ?? ''}\n${scope}\n${r.ip ?? ''}\n${r.resource ?? ''}`;
}

/**
 * Valid answers of keys without limits, per request tuple, bounded by count (the oldest goes first) and by age
 * (`keepMs`: the longest any use of an entry allows, fresh or stale). Entries are found again by key id, so that a
 * change to a key (or to a key it was derived from) drops all of its verdicts, and by organization.
 */
export class VerdictCache {
  readonly #entries = new Map<string, Verdict>();
  readonly #byKey = new Map<string, Set<string>>();

  constructor(private readonly options: { maxEntries: number; keepMs: number }) {}

  get size(): number {
    return this.#entries.size;
  }

  /** The verdict kept for a tuple, or undefined (dropped when it has outlived every use). */
  get(tuple: string, now: number): Verdict | undefined {
    const v = this.#entries.get(tuple);
    if (v === undefined) return undefined;
    if (now - v.at >= this.options.keepMs || now >= v.until) {
      this.#delete(tuple, v);
      return undefined;
    }
    return v;
  }

  set(tuple: string, outcome: Valid, now: number): void {
    const old = this.#entries.get(tuple);
    if (old) this.#delete(tuple, old);
    while (this.#entries.size >= this.options.maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#delete(oldest, this.#entries.get(oldest) as Verdict);
    }
    const v: Verdict = { outcome, at: now, until: outcome.cache?.until ?? Number.POSITIVE_INFINITY };
    this.#entries.set(tuple, v);
    for (const id of idsOf(outcome)) {
      const tuples = this.#byKey.get(id);
      if (tuples) tuples.add(tuple);
      else this.#byKey.set(id, new Set([tuple]));
    }
  }

  /** Drops every verdict of a key and of the keys derived from it. */
  dropKey(keyId: string): void {
    for (const tuple of [...(this.#byKey.get(keyId) ?? [])]) {
      const v = this.#entries.get(tuple);
      if (v) this.#delete(tuple, v);
    }
  }

  /** Drops every verdict of an organization's keys (all of them: those made by `userId` only, when given). */
  dropOrganization(orgId: string, userId?: string): void {
    for (const [tuple, v] of this.#entries) {
      const k = v.outcome.key;
      // A verdict without its organization (an answer without a verifier credential) cannot be told apart: dropped.
      if (k.organizationId === undefined || (k.organizationId === orgId && (userId === undefined || k.ownerId === userId))) {
        this.#delete(tuple, v);
      }
    }
  }

  clear(): void {
    this.#entries.clear();
    this.#byKey.clear();
  }

  #delete(tuple: string, v: Verdict): void {
    this.#entries.delete(tuple);
    for (const id of idsOf(v.outcome)) {
      const tuples = this.#byKey.get(id);
      tuples?.delete(tuple);
      if (tuples?.size === 0) this.#byKey.delete(id);
    }
  }
}

function idsOf(outcome: Valid): string[] {
  return [outcome.key.id, ...(outcome.cache?.ancestorIds ?? [])];
}
