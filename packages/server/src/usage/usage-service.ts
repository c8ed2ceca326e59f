import { monthOf } from '@keyward/core';
import { type Actor, authorize } from '../auth/authorization.js';
import { type KeywardConfig, type Plan, planForKey } from '../config/config.js';
import type { ApiKey, RequestLogEntry } from '../entities.js';
import type { Clock } from '../ids.js';
import type { KeyService } from '../keys/key-service.js';
import { type Page, type PageRequest, readPage } from '../pagination.js';
import type { Store } from '../storage/store.js';
import type { UsageRecorder } from './usage-recorder.js';
import { type KeyUsage, keyUsage, lineageMonthUsage } from './usage-report.js';

/** A key's usage as its page and `GET …/keys/:id/usage` show it. */
export interface KeyUsageSummary {
  key: ApiKey;
  /** The plan the verifier enforces on this key: its tier, capped by its organization's current plan. */
  plan: Plan;
  usage: KeyUsage;
  /** Allowed requests this month by the key's whole lineage: what its shared monthly quota counts. */
  quotaUsed: number;
  recent: RequestLogEntry[];
}

/** Usage as people read it: per key (with its lineage's quota) and per organization. */
export class UsageService {
  constructor(private readonly deps: { store: Store; recorder: UsageRecorder; keys: KeyService; config: KeywardConfig; clock: Clock }) {}

  async keySummary(actor: Actor, keyId: string, recentRequests = 20): Promise<KeyUsageSummary> {
    const { store, recorder, config, clock } = this.deps;
    const key = await this.deps.keys.get(actor, keyId);
    authorize(actor, 'usage.read', key);
    const now = clock.now();
    const org = await store.findOrganization(key.orgId);
    return {
      key,
      plan: planForKey(config, { tier: key.tier, orgPlan: org?.plan ?? key.tier }),
      usage: await keyUsage(store, recorder, key.id, now),
      quotaUsed: await lineageMonthUsage(store, recorder, key.lineageId, now),
      recent: await store.recentRequests(key.id, { limit: recentRequests }),
    };
  }

  /** A page of a key's request log, newest first (at most `request_log_per_second` requests a second are logged). */
  async requests(actor: Actor, keyId: string, page: PageRequest): Promise<Page<RequestLogEntry>> {
    const key = await this.deps.keys.get(actor, keyId);
    authorize(actor, 'usage.read', key);
    return readPage(
      page,
      (p) => this.deps.store.recentRequests(key.id, p),
      (r) => ({ at: r.at, id: r.id }),
    );
  }

  /** The organization at a glance: active keys (the one definition) and requests allowed this month. */
  async overview(actor: Actor): Promise<{ activeKeys: number; monthAllowed: number }> {
    authorize(actor, 'key.list');
    const now = this.deps.clock.now();
    const monthStart = `${monthOf(now)}-01`;
    const { activeKeys, allowed } = await this.deps.store.orgOverview(actor.orgId, now, monthStart);
    return { activeKeys, monthAllowed: allowed + this.deps.recorder.pendingAllowedForOrg(actor.orgId, monthStart) };
  }
}
