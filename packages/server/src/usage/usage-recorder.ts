import { dayOf } from '@keyward/core';
import type { Logger } from 'pino';
import { type Clock, newId, sortableId, systemClock } from '../ids.js';
import type { AuditEvent, DailyUsage, RequestLogEntry, Store } from '../storage/store.js';

interface UsageEvent {
  keyId: string;
  orgId: string;
  allowed: boolean;
  method: string;
  path: string;
  status: number;
  ip: string;
  at: number;
}

/**
 * Counts usage in memory and writes it behind the request, in batches: the request path never waits on the
 * database. `flush()` runs on a timer and once more on shutdown, so a clean stop loses nothing. A failed write
 * is put back and retried on the next flush.
 */
export class UsageRecorder {
  /** Today's counters, one per key, carrying the key's last-used time too: one map look-up per request. */
  #today = new Map<string, DailyUsage & { lastUsedAt: number; orgId: string }>();
  /** Counters of days that ended before the last flush. */
  #earlier: (DailyUsage & { lastUsedAt: number; orgId: string })[] = [];
  #requests: RequestLogEntry[] = [];
  #audit: AuditEvent[] = [];
  readonly #auditedDenials = new Map<string, number>();
  #flushing: Promise<void> | null = null;
  readonly #timer: NodeJS.Timeout;
  #pruneAt = 0;
  #day = '';
  #dayStart = 0;
  #dayEnd = 0;
  readonly #requestCap: number;

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly options: {
      flushIntervalMs: number;
      requestLogMaxRows: number;
      requestLogRetentionDays: number;
      requestLogPerSecond: number;
    },
    private readonly clock: Clock = systemClock,
  ) {
    // The request log is for finding out which service made a request, not for counting: counters are exact, but
    // at most `requestLogPerSecond` requests a second are logged one by one, so load never turns into row writes.
    this.#requestCap =
      options.requestLogMaxRows > 0 ? Math.max(1, Math.round((options.requestLogPerSecond * options.flushIntervalMs) / 1000)) : 0;
    this.#timer = setInterval(() => void this.flush(), options.flushIntervalMs);
    this.#timer.unref();
  }

  /** Counts one request made with a key. Positional arguments: this runs on every request and allocates nothing. */
  record(
    keyId: string,
    orgId: string,
    allowed: boolean,
    at: number,
    method: string,
    path: string,
    status: number,
    ip: string,
    deniedCode?: string,
  ): void {
    if (at >= this.#dayEnd || at < this.#dayStart) this.#startDay(at);
    let d = this.#today.get(keyId);
    if (!d) {
      d = { keyId, orgId, day: this.#day, allowed: 0, denied: 0, lastUsedAt: 0 };
      this.#today.set(keyId, d);
    }
    if (allowed) {
      d.allowed++;
      if (at > d.lastUsedAt) d.lastUsedAt = at;
    } else d.denied++;
    if (this.#requests.length < this.#requestCap) {
      this.#requests.push({ id: '', keyId, orgId, method: method.slice(0, 16), path: path.slice(0, 512), status, ip, at });
    }
    if (deniedCode) this.#auditDenial({ keyId, orgId, allowed, at, method, path, status, ip }, deniedCode);
  }

  #startDay(at: number): void {
    for (const d of this.#today.values()) this.#earlier.push(d);
    this.#today = new Map();
    this.#day = dayOf(at);
    this.#dayStart = Math.floor(at / 86_400_000) * 86_400_000;
    this.#dayEnd = this.#dayStart + 86_400_000;
  }

  /** A refused request goes into the audit log, at most once a minute per key and reason. */
  #auditDenial(e: UsageEvent, code: string): void {
    const marker = `${e.keyId}|${code}`;
    if ((this.#auditedDenials.get(marker) ?? -Infinity) + 60_000 > e.at) return;
    this.#auditedDenials.set(marker, e.at);
    this.#audit.push({
      id: sortableId('evt', e.at),
      orgId: e.orgId,
      actorType: 'key',
      actorId: e.keyId,
      action: 'request.denied',
      keyId: e.keyId,
      data: { code, method: e.method, path: e.path, ip: e.ip, status: e.status },
      at: e.at,
    });
  }

  /** Allowed requests of an organization's keys since `fromDay` not yet written. */
  pendingAllowedForOrg(orgId: string, fromDay: string): number {
    let n = 0;
    for (const d of this.#earlier) if (d.orgId === orgId && d.day >= fromDay) n += d.allowed;
    for (const d of this.#today.values()) if (d.orgId === orgId && d.day >= fromDay) n += d.allowed;
    return n;
  }

  /** Counts not yet written, so that answers about usage include the last second. */
  pending(keyId: string): DailyUsage[] {
    const today = this.#today.get(keyId);
    return [...this.#earlier.filter((d) => d.keyId === keyId), ...(today ? [today] : [])].map((d) => ({
      keyId: d.keyId,
      day: d.day,
      allowed: d.allowed,
      denied: d.denied,
    }));
  }

  flush(): Promise<void> {
    if (!this.#flushing) {
      this.#flushing = this.#write().finally(() => {
        this.#flushing = null;
      });
    }
    return this.#flushing;
  }

  async #write(): Promise<void> {
    const counters = [...this.#earlier, ...this.#today.values()];
    const requests = this.#requests;
    const audit = this.#audit;
    this.#earlier = [];
    this.#today = new Map();
    this.#requests = [];
    this.#audit = [];
    for (const r of requests) if (!r.id) r.id = newId('req');
    try {
      await this.store.recordUsage({
        daily: counters.map((d) => ({ keyId: d.keyId, day: d.day, allowed: d.allowed, denied: d.denied })),
        lastUsed: counters.filter((d) => d.lastUsedAt > 0).map((d) => ({ keyId: d.keyId, at: d.lastUsedAt })),
        requests,
      });
      await this.store.insertAudit(audit);
    } catch (error) {
      this.logger.error({ err: error }, 'usage flush failed; will retry');
      // Put everything back: counters for the same key and day add up again on the next flush.
      this.#earlier = counters.concat(this.#earlier);
      this.#requests = requests.concat(this.#requests).slice(-Math.max(this.#requestCap, 1));
      this.#audit = audit.concat(this.#audit);
      return;
    }
    const now = this.clock.now();
    if (now >= this.#pruneAt) {
      this.#pruneAt = now + 60_000;
      for (const [marker, at] of this.#auditedDenials) if (at + 60_000 <= now) this.#auditedDenials.delete(marker);
      await this.store
        .pruneRequestLog(now - this.options.requestLogRetentionDays * 86_400_000, this.options.requestLogMaxRows)
        .catch((err) => this.logger.warn({ err }, 'request log pruning failed'));
    }
  }

  /** Stops the timer and writes everything that is left. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
    if (this.#today.size > 0 || this.#earlier.length > 0 || this.#requests.length > 0) await this.flush();
  }
}
