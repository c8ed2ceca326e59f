import { monthOf } from '@keyward/core';
import { type Actor, authorize } from '../auth/authorization.js';
import { capPlan, type KeywardConfig, type Plan, planForKey } from '../config/config.js';
import type { Environments } from '../config/environments.js';
import type { ApiKey, RequestLogEntry } from '../entities.js';
import type { Clock } from '../ids.js';
import type { KeyService } from '../keys/key-service.js';
import { type Page, type PageRequest, readPage } from '../pagination.js';
import type { AccountStore, KeyStore, UsageStore } from '../storage/store.js';
import type { UsageRecorder } from './usage-recorder.js';
import { type KeyUsage, keyUsage, lineageCreditsSpent, lineageMonthUsage, monthAllowedByKey, usageByDay } from './usage-report.js';

/** A key's usage as its page and `GET …/keys/:id/usage` show it. */
export interface KeyUsageSummary {
  key: ApiKey;
  /** The plan the verifier enforces on this key: its tier, capped by its organization's current plan. */
  plan: Plan;
  usage: KeyUsage;
  /**
   * The monthly quota: allowed requests this month by the key's lineage and its descendants (by the agent's keys
   * only, with an agent filter), and what is left of it (for everyone).
   */
  quota: { used: number; remaining: number | null };
  /** The key's budget: credits it may spend, what was spent (as `quota`), and what is left; null when it has none. */
  budget: { limit: number; used: number; remaining: number } | null;
  /** The key and every key derived from it, this month: how many keys, and their requests. */
  tree: KeyUsage & { keys: number };
  recent: RequestLogEntry[];
}

/** A request a remote verifier answered from its local cache, as it reports it (`POST /v1/verifier/usage`). */
export interface ReportedRequest {
  keyId: string;
  orgId: string;
  at: number;
  method: string;
  path: string;
  ip: string;
  /** Requests alike (the same key, address, method and path), the last of them at `at`; 1 when absent. */
  count?: number;
  /** Credits they spent together (one each when absent), as the verifier would have counted them. */
  cost?: number;
}

/** How far from now a reported request may be dated: older ones are counted now, none in the future. */
const REPORT_WINDOW_MS = 24 * 60 * 60_000;

/** Usage as people read it: per key (with its lineage's quota) and per organization. */
export class UsageService {
  constructor(
    private readonly deps: {
      store: UsageStore & KeyStore & AccountStore;
      recorder: UsageRecorder;
      keys: KeyService;
      config: KeywardConfig;
      environments: Environments;
      clock: Clock;
    },
  ) {}

  /**
   * A key's usage. With `agent`, every figure counts only the keys of the key's tree (itself and the keys derived
   * from it) issued to that agent: what one agent did under this key.
   */
  async keySummary(actor: Actor, keyId: string, options: { recent?: number; agent?: string } = {}): Promise<KeyUsageSummary> {
    const { store, recorder, config, clock } = this.deps;
    const key = await this.deps.keys.get(actor, keyId);
    authorize(actor, 'usage.read', key);
    const now = clock.now();
    const org = await store.findOrganization(key.orgId);
    let tree = await store.subtreeKeyIds([key.id]);
    let own = [key.id];
    if (options.agent !== undefined) {
      const agent = options.agent;
      const labelled = new Set((await store.listKeysByIds(key.orgId, tree)).filter((k) => k.agent === agent).map((k) => k.id));
      tree = tree.filter((id) => labelled.has(id));
      own = tree;
    }
    const plan = capPlan(planForKey(config, { tier: key.tier, orgPlan: org?.plan ?? key.tier }), key);
    const usage = await keyUsage(store, recorder, own, now);
    const filtered = options.agent !== undefined;
    const quotaUsed = await lineageMonthUsage(store, recorder, key.lineageId, now);
    let budget: KeyUsageSummary['budget'] = null;
    if (key.budget !== null) {
      const spent = await lineageCreditsSpent(store, recorder, key.lineageId);
      const used = filtered
        ? (await usageByDay(store, recorder, own, '0000-01-01', '9999-12-31')).reduce((n, d) => n + d.credits, 0)
        : spent;
      budget = { limit: key.budget, used, remaining: Math.max(0, key.budget - spent) };
    }
    return {
      key,
      plan,
      usage,
      quota: {
        used: filtered ? usage.allowed : quotaUsed,
        remaining: plan.monthlyRequests === null ? null : Math.max(0, plan.monthlyRequests - quotaUsed),
      },
      budget,
      tree: { ...(await keyUsage(store, recorder, tree, now)), keys: tree.length },
      recent: await store.recentRequests(key.id, { limit: options.recent ?? 20 }),
    };
  }

  /**
   * A key's tree as its page shows it: the keys derived from it, parents before their children (100 at most),
   * each with its requests this month.
   */
  async keyTree(actor: Actor, keyId: string): Promise<{ key: ApiKey; allowed: number }[]> {
    const { root, levels } = await this.deps.keys.tree(actor, keyId);
    const below = new Map<string, ApiKey[]>();
    for (const k of levels.flat()) below.set(k.parentId ?? '', [...(below.get(k.parentId ?? '') ?? []), k]);
    const ordered: ApiKey[] = [];
    const walk = (id: string) => {
      for (const k of below.get(id) ?? []) {
        if (ordered.length >= 100) return;
        ordered.push(k);
        walk(k.id);
      }
    };
    walk(root.id);
    const allowed = await monthAllowedByKey(
      this.deps.store,
      this.deps.recorder,
      ordered.map((k) => k.id),
      this.deps.clock.now(),
    );
    return ordered.map((k) => ({ key: k, allowed: allowed.get(k.id) ?? 0 }));
  }

  /** A page of a key's request log, newest first (at most `request_log_per_second` requests a second are logged). */
  async requests(actor: Actor, keyId: string, page: PageRequest): Promise<Page<RequestLogEntry> & { key: ApiKey }> {
    const key = await this.deps.keys.get(actor, keyId);
    authorize(actor, 'usage.read', key);
    const requests = await readPage(
      page,
      (p) => this.deps.store.recentRequests(key.id, p),
      (r) => ({ at: r.at, id: r.id }),
    );
    return { ...requests, key };
  }

  /**
   * Requests a remote verifier answered itself, counted as if it had asked about each one: usage, the request log
   * and last use. Only keys that exist in the organization named are counted; the others are reported back.
   */
  async recordReported(rows: readonly ReportedRequest[]): Promise<{ recorded: number; unknown: number }> {
    const now = this.deps.clock.now();
    const byOrg = new Map<string, Set<string>>();
    for (const r of rows) {
      const ids = byOrg.get(r.orgId);
      if (ids) ids.add(r.keyId);
      else byOrg.set(r.orgId, new Set([r.keyId]));
    }
    const known = new Set<string>();
    for (const [orgId, ids] of byOrg) {
      for (const k of await this.deps.store.listKeysByIds(orgId, [...ids])) known.add(`${orgId}/${k.id}`);
    }
    let recorded = 0;
    let unknown = 0;
    for (const r of rows) {
      const count = r.count ?? 1;
      if (!known.has(`${r.orgId}/${r.keyId}`)) {
        unknown += count;
        continue;
      }
      const at = r.at > now || r.at < now - REPORT_WINDOW_MS ? now : r.at;
      // One count each, as if each had been asked about; the credits once, with the first.
      for (let i = 0; i < count; i++) {
        this.deps.recorder.record(r.keyId, r.orgId, true, at, r.method, r.path, 200, r.ip, undefined, i === 0 ? (r.cost ?? count) : 0);
      }
      recorded += count;
    }
    return { recorded, unknown };
  }

  /** The organization at a glance: active keys (the one definition) and requests allowed this month. */
  async overview(actor: Actor): Promise<{ activeKeys: number; monthAllowed: number }> {
    authorize(actor, 'key.list');
    const now = this.deps.clock.now();
    const monthStart = `${monthOf(now)}-01`;
    const { activeKeys, allowed } = await this.deps.store.orgOverview(actor.orgId, now, monthStart, this.deps.environments.servedNames);
    return { activeKeys, monthAllowed: allowed + this.deps.recorder.pendingAllowedForOrg(actor.orgId, monthStart) };
  }
}
