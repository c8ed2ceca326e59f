import { dayOf } from '@keyward/core';
import type { Logger } from 'pino';
import { newId } from '../ids.js';
import type { AuditEvent, DailyUsage, RequestLogEntry, Store } from '../storage/store.js';

export interface UsageEvent {
  keyId: string;
  orgId: string;
  allowed: boolean;
  method: string;
  path: string;
  status: number;
  ip: string;
  at: number;
  /** Why it was denied, when it was: recorded in the audit log, at most once a minute per key and reason. */
  deniedCode?: string;
}

/**
 * Counts usage in memory and writes it behind the request, in batches: the request path never waits on the
 * database. `flush()` runs on a timer and once more on shutdown, so a clean stop loses nothing. A failed write
 * is put back and retried on the next flush.
 */
export class UsageRecorder {
  #daily = new Map<string, DailyUsage>();
  #lastUsed = new Map<string, number>();
  #requests: RequestLogEntry[] = [];
  #audit: AuditEvent[] = [];
  readonly #auditedDenials = new Map<string, number>();
  #flushing: Promise<void> | null = null;
  readonly #timer: NodeJS.Timeout;
  #pruneAt = 0;

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly options: { flushIntervalMs: number; requestLogMaxRows: number; requestLogRetentionDays: number },
  ) {
    this.#timer = setInterval(() => void this.flush(), options.flushIntervalMs);
    this.#timer.unref();
  }

  record(e: UsageEvent): void {
    const day = dayOf(e.at);
    const id = `${e.keyId}|${day}`;
    let d = this.#daily.get(id);
    if (!d) {
      d = { keyId: e.keyId, day, allowed: 0, denied: 0 };
      this.#daily.set(id, d);
    }
    if (e.allowed) d.allowed++;
    else d.denied++;
    if (e.allowed) this.#lastUsed.set(e.keyId, e.at);
    if (this.options.requestLogMaxRows > 0 && this.#requests.length < 50_000) {
      this.#requests.push({
        id: newId('req'),
        keyId: e.keyId,
        orgId: e.orgId,
        method: e.method,
        path: e.path,
        status: e.status,
        ip: e.ip,
        at: e.at,
      });
    }
    if (e.deniedCode) {
      const marker = `${e.keyId}|${e.deniedCode}`;
      if ((this.#auditedDenials.get(marker) ?? 0) + 60_000 <= e.at) {
        this.#auditedDenials.set(marker, e.at);
        this.#audit.push({
          id: newId('evt'),
          orgId: e.orgId,
          actorType: 'key',
          actorId: e.keyId,
          action: 'request.denied',
          keyId: e.keyId,
          data: { code: e.deniedCode, method: e.method, path: e.path, ip: e.ip, status: e.status },
          at: e.at,
        });
      }
    }
  }

  /** Counts not yet written, so that answers about usage include the last second. */
  pending(keyId: string): DailyUsage[] {
    return [...this.#daily.values()].filter((d) => d.keyId === keyId).map((d) => ({ ...d }));
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
    const daily = [...this.#daily.values()];
    const lastUsed = [...this.#lastUsed].map(([keyId, at]) => ({ keyId, at }));
    const requests = this.#requests;
    const audit = this.#audit;
    this.#daily = new Map();
    this.#lastUsed = new Map();
    this.#requests = [];
    this.#audit = [];
    try {
      await this.store.recordUsage({ daily, lastUsed, requests });
      await this.store.insertAudit(audit);
    } catch (error) {
      this.logger.error({ err: error }, 'usage flush failed; will retry');
      for (const d of daily) {
        const id = `${d.keyId}|${d.day}`;
        const now = this.#daily.get(id);
        if (now) {
          now.allowed += d.allowed;
          now.denied += d.denied;
        } else this.#daily.set(id, d);
      }
      for (const u of lastUsed) if ((this.#lastUsed.get(u.keyId) ?? 0) < u.at) this.#lastUsed.set(u.keyId, u.at);
      this.#requests = requests.concat(this.#requests).slice(-50_000);
      this.#audit = audit.concat(this.#audit);
      return;
    }
    const now = Date.now();
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
    if (this.#daily.size > 0 || this.#requests.length > 0) await this.flush();
  }
}
