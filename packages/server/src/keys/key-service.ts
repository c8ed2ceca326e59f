import { displayKey, hashKey, type KeyFormat, KeywardError, lowerScope, type Scope } from '@keyward/core';
import type { AuditLog } from '../audit/audit-log.js';
import type { Actor } from '../auth/account-service.js';
import type { InvalidationBus } from '../cache/invalidation-bus.js';
import type { KeyCache } from '../cache/key-cache.js';
import type { KeywardConfig } from '../config/config.js';
import { type Clock, newId } from '../ids.js';
import type { ApiKey, Store } from '../storage/store.js';

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

/** Creating, reading, rotating and revoking keys, with who-may-do-what checked here, in one place. */
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
    },
  ) {}

  async create(actor: Actor, input: CreateKeyInput): Promise<{ key: ApiKey; rawKey: string }> {
    const { config, store, clock } = this.deps;
    const org = await store.findOrganization(actor.orgId);
    if (!org) throw new KeywardError('not_found', 'Organization not found.');
    const environment = input.environment ?? config.environments[0]?.name ?? 'test';
    if (!config.environments.some((e) => e.name === environment)) {
      throw new KeywardError('invalid_request', `environment must be one of: ${config.environments.map((e) => e.name).join(', ')}.`);
    }
    const tier = input.tier ?? org.plan;
    if (!config.plans[tier]) throw new KeywardError('invalid_request', `tier must be one of: ${config.planOrder.join(', ')}.`);
    if (config.planOrder.indexOf(tier) > config.planOrder.indexOf(org.plan)) {
      throw new KeywardError('forbidden', `A key's tier cannot exceed the organization's plan (${org.plan}).`);
    }
    const now = clock.now();
    if (input.expiresAt !== undefined && input.expiresAt !== null && input.expiresAt <= now) {
      throw new KeywardError('invalid_request', 'expires_at must be in the future.');
    }
    const maxActive = config.plans[org.plan]?.maxActiveKeys ?? null;
    const scope = input.scope ?? lowerScope(config.defaultKeyScope, actor.role);
    const { key, rawKey } = this.#mint(
      {
        orgId: actor.orgId,
        createdBy: actor.userId,
        name: input.name,
        environment,
        scope,
        tier,
        expiresAt: input.expiresAt ?? null,
        ipAllowlist: input.ipAllowlist ?? [],
        metadata: input.metadata ?? {},
        rotatedFrom: null,
      },
      now,
    );
    if ((await store.insertKey(key, maxActive, now)) === 'limit_reached') {
      throw new KeywardError(
        'conflict',
        `Your plan (${org.plan}) allows ${maxActive} active keys. Revoke one or upgrade the plan to create another.`,
      );
    }
    await this.deps.audit.write(actor, 'key.created', key.id, { name: key.name, environment, scope, tier });
    return { key, rawKey };
  }

  list(actor: Actor, filter: { environment?: string } = {}) {
    return this.deps.store.listKeys(actor.orgId, filter);
  }

  async get(actor: Actor, id: string): Promise<ApiKey> {
    const key = await this.deps.store.findKey(actor.orgId, id);
    if (!key) throw new KeywardError('not_found', 'No such API key.');
    return key;
  }

  async revoke(actor: Actor, id: string): Promise<ApiKey> {
    const key = await this.get(actor, id);
    this.#mayManage(actor, key);
    if (key.revokedAt !== null) return key;
    const revokedAt = this.deps.clock.now();
    await this.deps.store.updateKey(key.id, { revokedAt });
    await this.#invalidate(key.id);
    await this.deps.audit.write(actor, 'key.revoked', key.id, { name: key.name });
    return { ...key, revokedAt };
  }

  /**
   * Mints a successor with the same settings; the old key keeps working for the grace period (0 = revoked now).
   * Rotation does not count against the plan's active-key limit: it replaces a key, it does not add one.
   */
  async rotate(actor: Actor, id: string, graceSeconds = DEFAULT_GRACE_SECONDS) {
    const { store, clock } = this.deps;
    const old = await this.get(actor, id);
    this.#mayManage(actor, old);
    const now = clock.now();
    if (old.revokedAt !== null) throw new KeywardError('conflict', 'A revoked key cannot be rotated; create a new key instead.');
    if (old.expiresAt !== null && old.expiresAt <= now)
      throw new KeywardError('conflict', 'An expired key cannot be rotated; create a new key instead.');
    if (old.rotatedTo !== null) throw new KeywardError('conflict', 'This key was already rotated; rotate its successor instead.');
    const { key, rawKey } = this.#mint({ ...old, rotatedFrom: old.id }, now);
    await store.insertKey(key, null, now);
    const graceEnd = now + graceSeconds * 1000;
    const previous: ApiKey =
      graceSeconds === 0
        ? { ...old, revokedAt: now, rotatedTo: key.id }
        : { ...old, expiresAt: Math.min(old.expiresAt ?? graceEnd, graceEnd), rotatedTo: key.id };
    await store.updateKey(old.id, { revokedAt: previous.revokedAt, expiresAt: previous.expiresAt, rotatedTo: key.id });
    await this.#invalidate(old.id);
    await this.deps.audit.write(actor, 'key.rotated', old.id, { successor: key.id, grace_period_seconds: graceSeconds });
    return { key, rawKey, previous };
  }

  #mint(settings: Omit<ApiKey, 'id' | 'hash' | 'prefix' | 'last4' | 'createdAt' | 'revokedAt' | 'lastUsedAt' | 'rotatedTo'>, now: number) {
    const { format, config } = this.deps;
    const rawKey = format.generate(settings.environment);
    const prefix = format.environment(settings.environment)?.prefix ?? '';
    const key: ApiKey = {
      id: newId('key'),
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
    };
    return { key, rawKey };
  }

  /** Admins manage every key of their organization; other members only the keys they made. */
  #mayManage(actor: Actor, key: ApiKey): void {
    if (actor.selfOnly) {
      if (key.id === actor.keyId) return;
    } else if (actor.role === 'admin' || key.createdBy === actor.userId) return;
    throw new KeywardError('forbidden', 'Only admins and the key’s creator can manage this key.');
  }

  async #invalidate(keyId: string): Promise<void> {
    this.deps.cache.apply({ type: 'key', keyId });
    await this.deps.bus.publish({ type: 'key', keyId });
  }
}

export function presentKey(key: ApiKey, now: number) {
  const status =
    key.revokedAt !== null && key.revokedAt <= now ? 'revoked' : key.expiresAt !== null && key.expiresAt <= now ? 'expired' : 'active';
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: key.id,
    object: 'api_key',
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
    created_at: iso(key.createdAt),
    expires_at: iso(key.expiresAt),
    revoked_at: iso(key.revokedAt),
    last_used_at: iso(key.lastUsedAt),
    ip_allowlist: key.ipAllowlist,
    metadata: key.metadata,
    rotated_from: key.rotatedFrom,
    rotated_to: key.rotatedTo,
  };
}
