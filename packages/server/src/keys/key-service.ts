import {
  cidrWithin,
  displayKey,
  effectiveAllowlist,
  fitKeyName,
  hashKey,
  headsLineage,
  KeywardError,
  keyState,
  type Scope,
  type ServedEnvironments,
  scopeAllows,
  shownStatus,
} from '@keyward/core';
import type { AuditLog } from '../audit/audit-log.js';
import { type Actor, authorize, can, roleOfScope, scopeForNewKey } from '../auth/authorization.js';
import type { Invalidations } from '../cache/invalidation-bus.js';
import { capPlan, type KeywardConfig, type Plan, planForKey } from '../config/config.js';
import type { Environments } from '../config/environments.js';
import type { CheckedKey } from '../entities.js';
import { type Clock, newId } from '../ids.js';
import { type Page, type PageRequest, readPage } from '../pagination.js';
import type { AccountStore, ApiKey, KeyStore, LeakReport, StoreBase } from '../storage/store.js';

export interface CreateKeyInput {
  name: string;
  scope?: Scope;
  environment?: string;
  tier?: string;
  expiresAt?: number | null;
  ipAllowlist?: string[];
  metadata?: Record<string, unknown>;
  /** Credits the key (and every key derived from it) may spend in all. */
  budget?: number | null;
  agent?: string | null;
  /** The API the key is bound to (agent sign-in's RFC 8707 `resource`). */
  resource?: string | null;
  /** Seconds of disuse after which the key ends for good. */
  idleTimeoutSeconds?: number | null;
  /** The scope request it is issued for (the approver creates it): recorded on the key. */
  scopeRequest?: ApiKey['scopeRequest'];
}

/** What a child key asks for; everything is at most its parent's, and what it leaves out it inherits. */
export interface DeriveKeyInput {
  name?: string;
  scope?: Scope;
  /** Lifetime in seconds from now (or `expiresAt`); without either, `delegation.default_ttl_seconds`. */
  ttlSeconds?: number;
  expiresAt?: number;
  agent?: string;
  budget?: number;
  requestsPerMinute?: number;
  monthlyRequests?: number;
  ipAllowlist?: string[];
  resource?: string;
  metadata?: Record<string, unknown>;
  /** Seconds of disuse after which the child ends; at most its parent's when the parent has one. */
  idleTimeoutSeconds?: number;
}

export const DEFAULT_GRACE_SECONDS = 86_400;

/** Creating, reading, rotating and revoking keys. Who may do what is `can()`'s answer; the rules of state live here. */
export class KeyService {
  constructor(
    private readonly deps: {
      config: KeywardConfig;
      /** Served environments issue keys; retired ones are listed (their keys shown retired), never issued. */
      environments: Environments;
      store: KeyStore & AccountStore & StoreBase;
      invalidations: Invalidations;
      audit: AuditLog;
      clock: Clock;
    },
  ) {}

  async create(actor: Actor, input: CreateKeyInput): Promise<{ key: ApiKey; rawKey: string }> {
    const { config, environments, store, clock } = this.deps;
    const environment = environments.pick(input.environment ?? actor.environment, { field: 'environment' });
    authorize(actor, 'key.create', { environment, ...(input.scope ? { scope: input.scope } : {}) });
    const now = clock.now();
    if (input.expiresAt !== undefined && input.expiresAt !== null && input.expiresAt <= now) {
      throw new KeywardError('invalid_request', 'expires_at must be in the future.', {}, { field: 'expires_at' });
    }
    return store.transaction(async () => {
      await store.lockOrganization(actor.orgId);
      const org = await store.findOrganization(actor.orgId);
      if (!org) throw new KeywardError('not_found', 'Organization not found.');
      const tier = input.tier ?? org.plan;
      if (!config.plans[tier])
        throw new KeywardError('invalid_request', `tier must be one of: ${config.planOrder.join(', ')}.`, {}, { field: 'tier' });
      if (config.planOrder.indexOf(tier) > config.planOrder.indexOf(org.plan)) {
        throw new KeywardError('forbidden', `A key's tier cannot exceed the organization's plan (${org.plan}).`, {}, { field: 'tier' });
      }
      await this.#roomForOneMore(org, now, 'Revoke one or upgrade the plan to create another.');
      const minted = this.#mint(
        {
          orgId: actor.orgId,
          createdBy: actor.userId,
          name: input.name,
          environment,
          scope: scopeForNewKey(actor, input.scope),
          tier,
          expiresAt: input.expiresAt ?? null,
          ipAllowlist: input.ipAllowlist ?? [],
          metadata: input.metadata ?? {},
          rotatedFrom: null,
          lineageId: null,
          ...NO_TREE,
          agent: input.agent ?? null,
          budget: input.budget ?? null,
          resource: input.resource ?? null,
          idleTimeoutSeconds: input.idleTimeoutSeconds ?? null,
          scopeRequest: input.scopeRequest ?? null,
        },
        now,
      );
      await store.insertKey(minted.key);
      await this.deps.audit.write(actor, 'key.created', minted.key.id, {
        name: minted.key.name,
        environment,
        scope: minted.key.scope,
        tier,
        ...(minted.key.agent !== null ? { agent: minted.key.agent } : {}),
        ...(minted.key.budget !== null ? { budget: minted.key.budget } : {}),
        ...(minted.key.scopeRequest ? { scope_request_id: minted.key.scopeRequest.id } : {}),
      });
      return minted;
    });
  }

  /**
   * A child key of `parent`: in its environment and organization, made by the same person, recording its parent,
   * with every limit at most the parent's (asking for more is a 403 naming the field), never outliving it, at most
   * `delegation.max_depth` levels below a key made by a person and `delegation.max_children` active children per
   * key, and at most `delegation.max_descendants` active keys in the whole tree under the key a person made (a 409).
   * Its IP allowlist lies within its parent's and every ancestor's; an empty or omitted one is theirs, stored as it
   * is. Its requests also count towards each ancestor's limits and budget (the verifier's meters); revoking an
   * ancestor revokes it. `via` says how it was asked for (`derive` or `token-exchange`), for the audit log.
   */
  async derive(parent: CheckedKey, input: DeriveKeyInput, via: 'derive' | 'token_exchange' = 'derive') {
    const { config, store, clock } = this.deps;
    const p = parent.record;
    const now = clock.now();
    const refuse = (field: string, message: string, extra: Record<string, string> = {}) =>
      new KeywardError('forbidden', message, {}, { field, ...extra });
    const depth = p.ancestors.length + 1;
    if (depth > config.delegation.maxDepth) {
      throw refuse(
        'depth',
        `Keys may be derived at most ${config.delegation.maxDepth} levels below a key made by a person; this key is ${depth - 1} levels down.`,
      );
    }
    const scope = input.scope ?? parent.scope;
    if (!scopeAllows(parent.scope, scope)) {
      throw refuse('scope', `A child key's scope is at most its parent's (${parent.scope}); ${scope} was asked.`, {
        allowed_scope: parent.scope,
      });
    }
    // It never outlives the parent (whose own expiry is never past its ancestors'): a longer lifetime is cut to the
    // parent's (the answer's expires_at says so), so that a sub-agent asking "10 minutes" of a parent with 9 left
    // still gets a key.
    const parentEnd = p.expiresAt;
    const fallback = config.delegation.defaultTtlSeconds === null ? null : now + config.delegation.defaultTtlSeconds * 1000;
    const asked = input.expiresAt ?? (input.ttlSeconds !== undefined ? now + input.ttlSeconds * 1000 : fallback);
    if (asked !== null && asked <= now) {
      throw new KeywardError('invalid_request', 'expires_at must be in the future.', {}, { field: 'expires_at' });
    }
    const expiresAt = asked === null ? parentEnd : parentEnd === null ? asked : Math.min(asked, parentEnd);
    // Limits: at most what the parent (and so its whole chain) has.
    const chain = [p, ...p.ancestors];
    const tierPlan = planForKey(config, p);
    const plans = chain.map((k) => capPlan(tierPlan, k));
    const most = (of: (plan: Plan) => number | null) => lowest(plans.map(of));
    const budgetCap = lowest(chain.map((k) => k.budget));
    const atMost = (field: string, value: number | undefined, cap: number | null, what: string) => {
      if (value !== undefined && cap !== null && value > cap)
        throw refuse(field, `A child key's ${what} is at most its parent's (${cap}).`);
      return value ?? null;
    };
    const budget = atMost('budget', input.budget, budgetCap, 'budget');
    const requestsPerMinute = atMost(
      'requests_per_minute',
      input.requestsPerMinute,
      most((x) => x.requestsPerMinute),
      'per-minute limit',
    );
    const monthlyRequests = atMost(
      'monthly_requests',
      input.monthlyRequests,
      most((x) => x.monthlyRequests),
      'monthly quota',
    );
    // The addresses the parent may really be used from: its own list and every ancestor's (a parent made before
    // this rule may store none of its own). The child's list is stored as it is: what it asks when that lies
    // within, else (empty or omitted) all of it, so that the key's page shows the truth.
    const region = effectiveAllowlist([p.ipAllowlist, ...p.ancestors.map((a) => a.ipAllowlist)]);
    if (region === null) {
      throw refuse('ip_allowlist', "The parent key's allowlist and its ancestors' have no address in common; it can derive no key.");
    }
    const askedList = input.ipAllowlist ?? [];
    const outside = region.length === 0 ? undefined : askedList.find((c) => !cidrWithin(c, region));
    if (outside !== undefined) {
      throw refuse('ip_allowlist', `A child key's IP allowlist lies within its parent's (${region.join(', ')}); ${outside} does not.`);
    }
    const ipAllowlist = askedList.length > 0 ? askedList : region;
    const resource = input.resource ?? p.resource;
    if (p.resource !== null && resource !== p.resource) {
      throw refuse('resource', `The parent key is bound to ${p.resource}; its children are too.`);
    }
    const idleTimeoutSeconds = atMost('idle_timeout_seconds', input.idleTimeoutSeconds, p.idleTimeoutSeconds, 'idle timeout');
    const agent = input.agent ?? p.agent;
    const name = fitKeyName(input.name ?? `${agent ?? 'child'} of ${p.name}`);
    const actor: Actor = {
      kind: 'key',
      keyId: p.id,
      userId: p.createdBy,
      orgId: p.orgId,
      role: roleOfScope(parent.scope),
      memberId: '',
      environment: p.environment,
    };
    return store.transaction(async () => {
      await store.lockOrganization(p.orgId);
      const max = config.delegation.maxChildren;
      if ((await store.countActiveChildren(p.id, now)) >= max) {
        throw new KeywardError(
          'conflict',
          `This key already has ${max} active child keys (delegation.max_children). Revoke one, or let one expire, first.`,
        );
      }
      // The whole tree under the key a person made, counted under the same lock so parallel derives cannot pass it.
      const root = p.ancestors.at(-1)?.id ?? p.id;
      const cap = config.delegation.maxDescendants;
      if ((await store.countActiveDescendants(root, now)) >= cap) {
        throw new KeywardError(
          'conflict',
          `The key this one descends from (${root}) already has ${cap} active keys derived from it, at any depth (delegation.max_descendants). Revoke some, or let them expire, first.`,
          {},
          { reason: 'max_descendants' },
        );
      }
      const minted = this.#mint(
        {
          orgId: p.orgId,
          createdBy: p.createdBy,
          name,
          environment: p.environment,
          scope,
          tier: p.tier,
          expiresAt,
          ipAllowlist,
          metadata: input.metadata ?? p.metadata,
          rotatedFrom: null,
          lineageId: null,
          parentId: p.id,
          depth,
          agent,
          budget,
          requestsPerMinute,
          monthlyRequests,
          resource,
          importedFrom: null,
          idleTimeoutSeconds: idleTimeoutSeconds ?? p.idleTimeoutSeconds,
          scopeRequest: null,
        },
        now,
      );
      await store.insertKey(minted.key);
      await this.deps.audit.write(actor, 'key.derived', minted.key.id, {
        name,
        parent_id: p.id,
        via,
        scope,
        depth,
        ...(agent !== null ? { agent } : {}),
        expires_at: expiresAt === null ? null : new Date(expiresAt).toISOString(),
        ...(budget !== null ? { budget } : {}),
      });
      return minted;
    });
  }

  /** A key and the keys derived from it, level by level (1,000 at most): what the tree view shows. */
  async tree(actor: Actor, id: string): Promise<{ root: ApiKey; levels: ApiKey[][] }> {
    const root = await this.get(actor, id);
    const levels: ApiKey[][] = [];
    let parents = [root.id];
    for (let level = 0; level < this.deps.config.delegation.maxDepth && parents.length > 0; level++) {
      const children = await this.deps.store.listChildren(actor.orgId, parents);
      if (children.length === 0) break;
      levels.push(children);
      parents = children.map((c) => c.id);
    }
    return { root, levels };
  }

  /** Sets the agent a key was issued to (an admin, or the key's manager), for attribution. */
  async setAgent(actor: Actor, id: string, agent: string | null): Promise<ApiKey> {
    const key = await this.get(actor, id);
    authorize(actor, 'key.revoke', key);
    await this.deps.store.transaction(async () => {
      await this.deps.store.updateKeyAgent(actor.orgId, key.id, agent);
      await this.deps.audit.write(actor, 'key.updated', key.id, { agent });
    });
    await this.deps.invalidations.keys([key.id]);
    return { ...key, agent };
  }

  /** A key as the API shows it, now. */
  present(key: ApiKey): ReturnType<typeof presentKey> {
    return presentKey(key, this.deps.clock.now(), this.deps.environments);
  }

  /** A page of the organization's keys, newest first. */
  async list(actor: Actor, filter: { environment?: string }, page: PageRequest): Promise<Page<ApiKey>> {
    authorize(actor, 'key.list');
    const { environments } = this.deps;
    if (filter.environment !== undefined && !environments.known(filter.environment)) {
      const names = [...environments.served.map((e) => e.name), ...environments.retiredNames];
      throw new KeywardError('invalid_request', `environment: no environment "${filter.environment}"; this server has ${names.join(', ')}`);
    }
    return readPage(
      page,
      (p) => this.deps.store.listKeys(actor.orgId, filter, p),
      (k) => ({ at: k.createdAt, id: k.id }),
    );
  }

  async get(actor: Actor, id: string): Promise<ApiKey> {
    const key = await this.deps.store.findKey(actor.orgId, id);
    if (!key) throw new KeywardError('not_found', 'No such API key.');
    authorize(actor, 'key.read', key);
    return key;
  }

  /** Whether the actor may rotate and revoke this key: what the dashboard asks before it shows the buttons. */
  mayManage(actor: Actor, key: ApiKey): boolean {
    return can(actor, 'key.revoke', key).allowed;
  }

  async revoke(actor: Actor, id: string): Promise<ApiKey> {
    const key = await this.get(actor, id);
    const revokedAt = await this.#revoke(actor, key);
    if (revokedAt === null) return (await this.deps.store.findKey(actor.orgId, id)) ?? key;
    return { ...key, revokedAt };
  }

  /**
   * Revokes a key that is being replaced (a refresh token's key): true when this call revoked it, false when it was
   * revoked already, by someone else meanwhile, or was rotated (its successor is the owner's now), in which case
   * nothing may replace it.
   */
  async revokeReplaced(actor: Actor, id: string): Promise<boolean> {
    const key = await this.get(actor, id);
    if (key.rotatedTo !== null) return false;
    return (await this.#revoke(actor, key)) !== null;
  }

  /** Revokes a key if it is not revoked yet: when, or null when it was. */
  async #revoke(actor: Actor, key: ApiKey): Promise<number | null> {
    authorize(actor, 'key.revoke', key);
    const revokedAt = this.deps.clock.now();
    const revoked = await this.deps.store.transaction(async () => {
      if (!(await this.deps.store.revokeKey(key.id, revokedAt))) return false;
      await this.deps.audit.write(actor, 'key.revoked', key.id, { name: key.name });
      return true;
    });
    if (!revoked) return null;
    await this.deps.invalidations.keys([key.id]);
    return revokedAt;
  }

  /**
   * A key reported as found in public (GitHub's secret scanning, `report-leak`): recorded on the key, audited as
   * `key.leaked` (a webhook event) by the reporter, and revoked at once everywhere unless `leaks.on_report` is
   * `notify`. A key already revoked is left as it is. Returns whether it was revoked now.
   */
  async reportLeak(orgId: string, keyId: string, leak: LeakReport): Promise<boolean> {
    const { store, config, audit } = this.deps;
    const key = await store.findKey(orgId, keyId);
    if (!key || keyState(key, leak.at, this.deps.environments).status === 'revoked') return false;
    const revoke = config.leaks.onReport === 'revoke';
    const revoked = await store.transaction(async () => {
      const now = revoke && (await store.revokeKey(key.id, leak.at));
      await store.markLeaked(key.id, leak);
      await audit.system(orgId, leak.reporter, 'key.leaked', key.id, {
        name: key.name,
        url: leak.url,
        source: leak.source,
        reporter: leak.reporter,
        action: now ? 'revoked' : 'notified',
      });
      return now;
    });
    if (revoked) await this.deps.invalidations.keys([key.id]);
    return revoked;
  }

  /**
   * Mints a successor with the same settings; the old key keeps working for the grace period (0 = revoked now).
   * One transaction: only the live head of a lineage can be rotated (a second rotation of the same key is a 409,
   * unless its successor was revoked: then it heads the lineage again),
   * an earlier key of the lineage still in grace is revoked at once (one key in grace per lineage), and a key in
   * grace counts towards the plan's active keys, so rotating with grace needs room for it.
   */
  async rotate(actor: Actor, id: string, graceSeconds = DEFAULT_GRACE_SECONDS) {
    const { store, clock } = this.deps;
    const old = await this.get(actor, id);
    authorize(actor, 'key.rotate', old);
    const now = clock.now();
    const { status } = keyState(old, now, this.deps.environments);
    if (status === 'revoked') throw new KeywardError('conflict', 'A revoked key cannot be rotated; create a new key instead.');
    if (status === 'expired' || status === 'idle_expired')
      throw new KeywardError('conflict', 'An expired key cannot be rotated; create a new key instead.');
    // A successor revoked during the grace period hands the lineage back: the old key may be rotated again.
    const successor = old.rotatedTo === null ? null : await store.findKey(old.orgId, old.rotatedTo);
    if (!headsLineage(old, successor, now, this.deps.environments)) {
      throw new KeywardError('conflict', 'This key was already rotated; rotate its successor instead.');
    }
    // Its own expiry went to the successor when it was rotated; its expiry now is only the grace deadline.
    const expiresAt = successor ? successor.expiresAt : old.expiresAt;
    const { key, rawKey } = this.#mint({ ...old, expiresAt, rotatedFrom: old.id }, now);
    const graceEnd = now + graceSeconds * 1000;
    const end =
      graceSeconds === 0
        ? { revokedAt: now, expiresAt: old.expiresAt }
        : { revokedAt: null, expiresAt: Math.min(old.expiresAt ?? graceEnd, graceEnd) };
    const ended = await store.transaction(async () => {
      await store.lockOrganization(old.orgId);
      if (!(await store.markRotated(old.id, key.id, end, now, successor?.id ?? null))) {
        throw new KeywardError('conflict', 'This key was rotated or revoked meanwhile; rotate its successor instead.');
      }
      const endedGrace = await store.endGrace(old.lineageId, old.id, now);
      // With a grace period the old key stays active, so the successor is one more active key.
      const org = graceSeconds > 0 ? await store.findOrganization(old.orgId) : undefined;
      if (org) {
        await this.#roomForOneMore(
          org,
          now,
          'A key in its grace period counts. Rotate with grace_period_seconds 0, or revoke a key first.',
        );
      }
      await store.insertKey(key);
      await this.deps.audit.write(actor, 'key.rotated', old.id, { successor: key.id, grace_period_seconds: graceSeconds });
      return endedGrace;
    });
    await this.deps.invalidations.keys([old.id, ...ended]);
    const previous: ApiKey = { ...old, ...end, rotatedTo: key.id };
    return { key, rawKey, previous };
  }

  /** Throws the plan's 409 (ending with `what to do`) when the organization has no room for one more active key. Inside the org's lock. */
  async #roomForOneMore(org: { id: string; plan: string }, now: number, whatToDo: string): Promise<void> {
    const max = this.deps.config.plans[org.plan]?.maxActiveKeys ?? null;
    if (max !== null && (await this.deps.store.countActiveKeys(org.id, now, this.deps.environments.servedNames)) >= max) {
      throw new KeywardError('conflict', `Your plan (${org.plan}) allows ${max} active keys. ${whatToDo}`);
    }
  }

  #mint(
    settings: Omit<
      ApiKey,
      'id' | 'hash' | 'prefix' | 'last4' | 'createdAt' | 'revokedAt' | 'lastUsedAt' | 'rotatedTo' | 'lineageId' | 'leak'
    > & {
      lineageId: string | null;
    },
    now: number,
  ) {
    const { environments, config } = this.deps;
    const rawKey = environments.issuing.generate(settings.environment);
    const prefix = environments.issuing.environment(settings.environment)?.prefix ?? '';
    const id = newId('key');
    const key: ApiKey = {
      id,
      orgId: settings.orgId,
      createdBy: settings.createdBy,
      name: settings.name,
      environment: settings.environment,
      scope: settings.scope,
      tier: settings.tier,
      hash: hashKey(config.secret, rawKey),
      prefix,
      last4: rawKey.slice(-4),
      createdAt: now,
      expiresAt: settings.expiresAt,
      revokedAt: null,
      lastUsedAt: null,
      ipAllowlist: settings.ipAllowlist,
      metadata: settings.metadata,
      rotatedFrom: settings.rotatedFrom,
      rotatedTo: null,
      leak: null,
      lineageId: settings.lineageId ?? id,
      parentId: settings.parentId,
      depth: settings.depth,
      agent: settings.agent,
      budget: settings.budget,
      requestsPerMinute: settings.requestsPerMinute,
      monthlyRequests: settings.monthlyRequests,
      resource: settings.resource,
      idleTimeoutSeconds: settings.idleTimeoutSeconds,
      scopeRequest: settings.scopeRequest,
      // A successor (rotation) is a key of keyward's own format, whatever its predecessor was.
      importedFrom: null,
    };
    return { key, rawKey };
  }
}

/** What a key made by a person has of a tree: nothing above it, and no caps of its own. */
const NO_TREE = { parentId: null, depth: 0, requestsPerMinute: null, monthlyRequests: null, resource: null, importedFrom: null } as const;

/** The lowest of some limits (null = none). */
function lowest(values: (number | null)[]): number | null {
  let low: number | null = null;
  for (const v of values) if (v !== null && (low === null || v < low)) low = v;
  return low;
}

/** Where a key is in its life at `now`: revoked, expired, or still working (whatever its environment). */
/**
 * A key as the API and the dashboard show it: its status is `keyState`'s (a key in grace shows `active`, with
 * `rotated_to` naming its successor; one whose environment is no longer served shows `retired`).
 */
export function presentKey(key: ApiKey, now: number, environments: ServedEnvironments) {
  const status = shownStatus(keyState(key, now, environments));
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: key.id,
    object: 'api_key' as const,
    name: key.name,
    environment: key.environment,
    scope: key.scope,
    tier: key.tier,
    prefix: key.prefix,
    last4: key.last4,
    display: displayKey(key.prefix, key.last4),
    status,
    organization_id: key.orgId,
    created_by: key.createdBy,
    created_at: new Date(key.createdAt).toISOString(),
    expires_at: iso(key.expiresAt),
    revoked_at: iso(key.revokedAt),
    last_used_at: iso(key.lastUsedAt),
    ip_allowlist: key.ipAllowlist,
    metadata: key.metadata,
    rotated_from: key.rotatedFrom,
    rotated_to: key.rotatedTo,
    lineage_id: key.lineageId,
    parent_id: key.parentId,
    depth: key.depth,
    agent: key.agent,
    budget: key.budget,
    limits: { requests_per_minute: key.requestsPerMinute, monthly_requests: key.monthlyRequests },
    resource: key.resource,
    idle_timeout_seconds: key.idleTimeoutSeconds,
    scope_request: key.scopeRequest
      ? {
          id: key.scopeRequest.id,
          requesting_key_id: key.scopeRequest.requestingKeyId,
          approved_by: key.scopeRequest.approvedBy,
          approver_email: key.scopeRequest.approverEmail,
          reason: key.scopeRequest.reason,
        }
      : null,
    imported_from: key.importedFrom,
    leak: key.leak
      ? { url: key.leak.url, reporter: key.leak.reporter, source: key.leak.source, reported_at: new Date(key.leak.at).toISOString() }
      : null,
  };
}
