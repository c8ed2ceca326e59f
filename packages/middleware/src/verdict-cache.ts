import type { Scope, VerifyOutcome, VerifyRequest } from '@keyward/core';
import { scopeForMethod } from '@keyward/core';
import type { Requester } from './usage-reports.js';

type Valid = Extract<VerifyOutcome, { valid: true }>;

/**
 * A valid answer kept for one request tuple. keyward's answer depends on the key, the environment served, the scope
 * needed (a route's, or the method's), the client's address (allowlists) and the resource, and on nothing else: the
 * path and the cost do not change whether it is valid, so requests to any path share one verdict (a limited key's
 * limits are counted apart, from the allowance leased for it).
 */
export interface Verdict {
  environment: string | undefined;
  scope: Scope | undefined;
  ip: string | undefined;
  resource: string | undefined;
  outcome: Valid;
  /** Who its requests are reported as (the key, its organization, the client's address). */
  requester: Requester;
  /** When keyward gave it (epoch ms). */
  at: number;
  /** When the key stops working (expiry, end of grace), or Infinity. */
  until: number;
}

/** The scope a request needs, as keyward works it out: the route's, else the method's. */
export const scopeOf = (r: VerifyRequest): Scope | undefined => r.scope ?? (r.method ? scopeForMethod(r.method) : undefined);

const sameTuple = (v: Verdict, r: VerifyRequest, scope: Scope | undefined) =>
  v.ip === r.ip && v.scope === scope && v.environment === r.environment && v.resource === r.resource;

/**
 * Valid answers, per raw key and request tuple, bounded by count (the oldest key's go first)
 * and by age (`keepMs`: the longest any use allows, fresh or stale). A key usually has one tuple, so the hit path is
 * one `Map.get` and a few comparisons, no string built. Entries are found again by key id, so that a change to a key
 * (or to a key it was derived from) drops all of its verdicts, and by organization.
 */
export class VerdictCache {
  readonly #byRaw = new Map<string, Verdict[]>();
  readonly #byKeyId = new Map<string, Set<string>>();
  #size = 0;

  constructor(private readonly options: { maxEntries: number; keepMs: number }) {}

  get size(): number {
    return this.#size;
  }

  /** The verdict kept for a request's tuple, or undefined (dropped when it has outlived every use). */
  get(r: VerifyRequest, now: number): Verdict | undefined {
    const list = this.#byRaw.get(r.key);
    if (list === undefined) return undefined;
    const scope = scopeOf(r);
    for (let i = 0; i < list.length; i++) {
      const v = list[i] as Verdict;
      if (!sameTuple(v, r, scope)) continue;
      if (now - v.at < this.options.keepMs && now < v.until) return v;
      list.splice(i, 1);
      this.#size--;
      if (list.length === 0) this.#dropRaw(r.key, v);
      return undefined;
    }
    return undefined;
  }

  set(r: VerifyRequest, outcome: Valid, now: number): void {
    const scope = scopeOf(r);
    let list = this.#byRaw.get(r.key);
    if (list) {
      const i = list.findIndex((v) => sameTuple(v, r, scope));
      if (i >= 0) {
        list.splice(i, 1);
        this.#size--;
      }
    }
    while (this.#size >= this.options.maxEntries) {
      const oldest = this.#byRaw.keys().next().value as string;
      this.#dropRawAll(oldest);
    }
    list = this.#byRaw.get(r.key);
    if (!list) {
      list = [];
      this.#byRaw.set(r.key, list);
    }
    const v: Verdict = {
      environment: r.environment,
      scope,
      ip: r.ip,
      resource: r.resource,
      outcome,
      requester: { keyId: outcome.key.id, orgId: outcome.key.organizationId ?? '', ip: r.ip ?? '' },
      at: now,
      until: outcome.cache?.until ?? Number.POSITIVE_INFINITY,
    };
    list.push(v);
    this.#size++;
    for (const id of idsOf(outcome)) {
      const raws = this.#byKeyId.get(id);
      if (raws) raws.add(r.key);
      else this.#byKeyId.set(id, new Set([r.key]));
    }
  }

  /** Drops every verdict of a key and of the keys derived from it. */
  dropKey(keyId: string): void {
    for (const raw of [...(this.#byKeyId.get(keyId) ?? [])]) this.#dropRawAll(raw);
  }

  /** Drops every verdict of an organization's keys (all of them: those made by `userId` only, when given). */
  dropOrganization(orgId: string, userId?: string): void {
    for (const [raw, list] of [...this.#byRaw]) {
      const k = (list[0] as Verdict).outcome.key;
      // A verdict without its organization (an answer without a verifier credential) cannot be told apart: dropped.
      if (k.organizationId === undefined || (k.organizationId === orgId && (userId === undefined || k.ownerId === userId))) {
        this.#dropRawAll(raw);
      }
    }
  }

  clear(): void {
    this.#byRaw.clear();
    this.#byKeyId.clear();
    this.#size = 0;
  }

  #dropRawAll(raw: string): void {
    const list = this.#byRaw.get(raw);
    if (!list) return;
    this.#size -= list.length;
    this.#dropRaw(raw, list[0]);
  }

  /** Forgets a raw key whose list is (now) empty or dropped, and its index entries. */
  #dropRaw(raw: string, sample: Verdict | undefined): void {
    this.#byRaw.delete(raw);
    if (!sample) return;
    for (const id of idsOf(sample.outcome)) {
      const raws = this.#byKeyId.get(id);
      raws?.delete(raw);
      if (raws?.size === 0) this.#byKeyId.delete(id);
    }
  }
}

function idsOf(outcome: Valid): string[] {
  return [outcome.key.id, ...(outcome.cache?.ancestorIds ?? [])];
}
