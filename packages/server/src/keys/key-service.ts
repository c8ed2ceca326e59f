import { displayKey, hashKey, type KeyFormat, KeywardError, type Scope } from '@keyward/core';
import type { AuditLog } from '../audit/audit-log.js';
import { type Actor, authorize, can, scopeForNewKey } from '../auth/authorization.js';
import type { InvalidationBus } from '../cache/invalidation-bus.js';
import type { KeyCache } from '../cache/key-cache.js';
import type { KeywardConfig } from '../config/config.js';
import { type Clock, newId } from '../ids.js';
import { type Page, type PageRequest, readPage } from '../pagination.js';
import type { ApiKey, LeakReport, Store } from '../storage/store.js';

export interface CreateKeyInput {
  name: string;
  scope?: Scope;
  environment?: string;
  tier?: string;
  expiresAt?: number | null;
  ipAllowlist?: string[];
  metadata?: Record<string, unknown>;
}

export const DEFAULT_GRACE_SECONDS = 86_400;

/** Creating, reading, rotating and revoking keys. Who may do what is `can()`'s answer; the rules of state live here. */
export class KeyService {
  constructor(
    private readonly deps: {
      config: KeywardConfig;
      format: KeyFormat;
      store: Store;
      cache: KeyCache;
      bus: InvalidationBus;
      audit: AuditLog;
      clock: Clock;
      /** Environments no longer configured that still have keys: listed (as retired), never issued. */
      retired?: readonly string[];
    },
  ) {}

  async create(actor: Actor, input: CreateKeyInput): Promise<{ key: ApiKey; rawKey: string }> {
    const { config, store, clock } = this.deps;
    const environment = input.environment ?? actor.environment ?? config.environments[0]?.name ?? 'test';
    if (!config.environments.some((e) => e.name === environment)) {
      throw new KeywardError(
        'invalid_request',
        `environment must be one of: ${config.environments.map((e) => e.name).join(', ')}.`,
        {},
        { field: 'environment' },
      );
    }
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
        },
        now,
      );
      await store.insertKey(minted.key);
      await this.deps.audit.write(actor, 'key.created', minted.key.id, {
        name: minted.key.name,
        environment,
        scope: minted.key.scope,
        tier,
      });
      return minted;
    });
  }

  /** Environments no longer configured that still have keys (found at start-up). */
  get retiredEnvironments(): readonly string[] {
    return this.deps.retired ?? [];
  }

  /** A page of the organization's keys, newest first. */
  async list(actor: Actor, filter: { environment?: string }, page: PageRequest): Promise<Page<ApiKey>> {
    authorize(actor, 'key.list');
    const names = [...this.deps.config.environments.map((e) => e.name), ...(this.deps.retired ?? [])];
    if (filter.environment !== undefined && !names.includes(filter.environment)) {
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
    authorize(actor, 'key.revoke', key);
    const revokedAt = this.deps.clock.now();
    const revoked = await this.deps.store.transaction(async () => {
      if (!(await this.deps.store.revokeKey(key.id, revokedAt))) return false;
      await this.deps.audit.write(actor, 'key.revoked', key.id, { name: key.name });
      return true;
    });
    if (!revoked) return (await this.deps.store.findKey(actor.orgId, id)) ?? key;
    await this.#invalidate([key.id]);
    return { ...key, revokedAt };
  }

  /**
   * A key reported as found in public (GitHub's secret scanning, `report-leak`): recorded on the key, audited as
   * `key.leaked` (a webhook event) by the reporter, and revoked at once everywhere unless `leaks.on_report` is
   * `notify`. A key already revoked is left as it is. Returns whether it was revoked now.
   */
  async reportLeak(orgId: string, keyId: string, leak: LeakReport): Promise<boolean> {
    const { store, config, audit } = this.deps;
    const key = await store.findKey(orgId, keyId);
    if (!key || (key.revokedAt !== null && key.revokedAt <= leak.at)) return false;
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
    if (revoked) await this.#invalidate([key.id]);
    return revoked;
  }

  /**
   * Mints a successor with the same settings; the old key keeps working for the grace period (0 = revoked now).
   * One transaction: only the live head of a lineage can be rotated (a second rotation of the same key is a 409),
   * an earlier key of the lineage still in grace is revoked at once (one key in grace per lineage), and a key in
   * grace counts towards the plan's active keys, so rotating with grace needs room for it.
   */
  async rotate(actor: Actor, id: string, graceSeconds = DEFAULT_GRACE_SECONDS) {
    const { store, clock } = this.deps;
    const old = await this.get(actor, id);
    authorize(actor, 'key.rotate', old);
    const now = clock.now();
    if (old.revokedAt !== null) throw new KeywardError('conflict', 'A revoked key cannot be rotated; create a new key instead.');
    if (old.expiresAt !== null && old.expiresAt <= now)
      throw new KeywardError('conflict', 'An expired key cannot be rotated; create a new key instead.');
    if (old.rotatedTo !== null) throw new KeywardError('conflict', 'This key was already rotated; rotate its successor instead.');
    const { key, rawKey } = this.#mint({ ...old, rotatedFrom: old.id }, now);
    const graceEnd = now + graceSeconds * 1000;
    const end =
      graceSeconds === 0
        ? { revokedAt: now, expiresAt: old.expiresAt }
        : { revokedAt: null, expiresAt: Math.min(old.expiresAt ?? graceEnd, graceEnd) };
    const ended = await store.transaction(async () => {
      await store.lockOrganization(old.orgId);
      if (!(await store.markRotated(old.id, key.id, end, now))) {
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
    await this.#invalidate([old.id, ...ended]);
    const previous: ApiKey = { ...old, ...end, rotatedTo: key.id };
    return { key, rawKey, previous };
  }

  /** Throws the plan's 409 (ending with `what to do`) when the organization has no room for one more active key. Inside the org's lock. */
  async #roomForOneMore(org: { id: string; plan: string }, now: number, whatToDo: string): Promise<void> {
    const max = this.deps.config.plans[org.plan]?.maxActiveKeys ?? null;
    if (max !== null && (await this.deps.store.countActiveKeys(org.id, now)) >= max) {
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
    const { format, config } = this.deps;
    const rawKey = format.generate(settings.environment);
    const prefix = format.environment(settings.environment)?.prefix ?? '';
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
    };
    return { key, rawKey };
  }

  async #invalidate(keyIds: string[]): Promise<void> {
    for (const keyId of keyIds) {
      this.deps.cache.apply({ type: 'key', keyId });
      await this.deps.bus.publish({ type: 'key', keyId });
    }
  }
}

/** Where a key is in its life at `now`: revoked, expired, or still working (whatever its environment). */
export function lifecycleOf(key: Pick<ApiKey, 'revokedAt' | 'expiresAt'>, now: number): 'active' | 'revoked' | 'expired' {
  if (key.revokedAt !== null && key.revokedAt <= now) return 'revoked';
  if (key.expiresAt !== null && key.expiresAt <= now) return 'expired';
  return 'active';
}

/** A key as the API shows it; `retired` when it would be active but its environment is no longer served. */
export function presentKey(key: ApiKey, now: number, served: readonly { name: string }[]) {
  const life = lifecycleOf(key, now);
  const status: 'active' | 'revoked' | 'expired' | 'retired' =
    life !== 'active' || served.some((e) => e.name === key.environment) ? life : 'retired';
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
    leak: key.leak
      ? { url: key.leak.url, reporter: key.leak.reporter, source: key.leak.source, reported_at: new Date(key.leak.at).toISOString() }
      : null,
  };
}
