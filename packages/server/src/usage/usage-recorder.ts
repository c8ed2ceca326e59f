import { setImmediate as nextTurn } from 'node:timers/promises';
import { dayOf } from '@keyward/core';
import type { Logger } from 'pino';
import { type Clock, sortableId, systemClock } from '../ids.js';
import type { AuditEvent, AuditStore, DailyUsage, RequestLogEntry, UsageStore } from '../storage/store.js';

export type DroppedKind = 'usage' | 'request_log' | 'audit';
type Counter = DailyUsage & { lastUsedAt: number; orgId: string };
const MAX_PENDING_AUDIT = 10_000;
/**
 * Request-log rows and audit events are written this many to a transaction, the event loop turning between two:
 * one write of a second's log (1,000 rows at the default `request_log_per_second`) took 5-8 ms of SQLite on the
 * server's thread, its ids as much again, which made the tail of every keyed request (issue 26). 32 rows take about
 * a fifth of a millisecond. Counters are still written as one transaction: quotas are seeded from them.
 */
const LOG_ROWS_PER_WRITE = 32;

/**
 * Whether storage refused the data itself rather than being unreachable: PostgreSQL's SQLSTATE classes 22 (data
 * exception, e.g. NUL in text) and 23 (constraint violation), SQLite's constraint, mismatch and too-big errors.
 * Such a row fails every time it is tried, so it is dropped; anything else is an outage, retried.
 */
export function isRefusedData(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (typeof code !== 'string') return false;
  return /^2[23][0-9A-Z]{3}$/.test(code) || /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/.test(code);
}

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
 * database. `flush()` runs on a timer and once more on shutdown, so a clean stop loses nothing. When storage is
 * unreachable, what was not written is put back (merged, capped) and retried with backoff; a row storage refuses
 * (bad data) is dropped alone and never blocks the others.
 */
export class UsageRecorder {
  /** Today's counters, one per key, carrying the key's last-used time too: one map look-up per request. */
  #today = new Map<string, Counter>();
  /** Counters of days that ended before the last flush, and counters put back after a failed flush. */
  #earlier: Counter[] = [];
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
  /** Flushes that failed in a row (storage unreachable), and when to try again. */
  #failures = 0;
  #retryAt = 0;
  #closing = false;

  constructor(
    private readonly store: UsageStore & AuditStore,
    private readonly logger: Logger,
    private readonly options: {
      flushIntervalMs: number;
      requestLogMaxRows: number;
      requestLogRetentionDays: number;
      requestLogPerSecond: number;
      /** Told of rows dropped: refused by storage, or over the pending cap during an outage. */
      onDropped?: (kind: DroppedKind, rows: number) => void;
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
    credits = 0,
  ): void {
    if (at >= this.#dayEnd || at < this.#dayStart) this.#startDay(at);
    let d = this.#today.get(keyId);
    if (!d) {
      d = { keyId, orgId, day: this.#day, allowed: 0, denied: 0, credits: 0, lastUsedAt: 0 };
      this.#today.set(keyId, d);
    }
    if (allowed) {
      d.allowed++;
      d.credits += credits;
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

  /** Counts of these keys not yet written, so that answers about usage include the last second. */
  pending(keyIds: ReadonlySet<string>): DailyUsage[] {
    const today = [...keyIds].flatMap((id) => this.#today.get(id) ?? []);
    return [...this.#earlier.filter((d) => keyIds.has(d.keyId)), ...today].map((d) => ({
      keyId: d.keyId,
      day: d.day,
      allowed: d.allowed,
      denied: d.denied,
      credits: d.credits,
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

  /** Rows waiting to be written (counters, request-log rows, audit events): bounded whatever happens to storage. */
  get pendingRows(): number {
    return this.#earlier.length + this.#today.size + this.#requests.length + this.#audit.length;
  }

  async #write(): Promise<void> {
    const now = this.clock.now();
    if (now < this.#retryAt && !this.#closing) return;
    const counters = [...this.#earlier, ...this.#today.values()];
    const requests = this.#requests;
    const audit = this.#audit;
    this.#earlier = [];
    this.#today = new Map();
    this.#requests = [];
    this.#audit = [];
    // Counters first and on their own: quotas depend on them, and a log row storage refuses must never hold them up.
    const failedCounters = await this.#writeRows('usage', counters, (rows) =>
      this.store.recordUsage({
        daily: rows.map((d) => ({ keyId: d.keyId, day: d.day, allowed: d.allowed, denied: d.denied, credits: d.credits })),
        lastUsed: rows.filter((d) => d.lastUsedAt > 0).map((d) => ({ keyId: d.keyId, at: d.lastUsedAt })),
        requests: [],
      }),
    );
    // Rows come back only when storage is unreachable: then the rest is not even tried.
    const outage = failedCounters.length > 0;
    const failedRequests = outage
      ? requests
      : await this.#writeRows(
          'request_log',
          requests,
          (rows) => {
            for (const r of rows) if (!r.id) r.id = sortableId('req', r.at);
            return this.store.recordUsage({ daily: [], lastUsed: [], requests: rows });
          },
          LOG_ROWS_PER_WRITE,
        );
    const failedAudit = outage ? audit : await this.#writeRows('audit', audit, (rows) => this.store.insertAudit(rows), LOG_ROWS_PER_WRITE);
    this.#putBack(failedCounters, failedRequests, failedAudit);
    if (failedCounters.length + failedRequests.length + failedAudit.length > 0) {
      // Storage is unreachable: try again after 1, 2, 4 … 30 s rather than every tick.
      this.#failures++;
      this.#retryAt = now + Math.min(30_000, 1000 * 2 ** (this.#failures - 1));
      return;
    }
    if (this.#failures > 0) this.logger.info({ after: this.#failures }, 'usage flush recovered');
    this.#failures = 0;
    this.#retryAt = 0;
    if (now >= this.#pruneAt) {
      this.#pruneAt = now + 60_000;
      for (const [marker, at] of this.#auditedDenials) if (at + 60_000 <= now) this.#auditedDenials.delete(marker);
      await this.store
        .pruneRequestLog(now - this.options.requestLogRetentionDays * 86_400_000, this.options.requestLogMaxRows)
        .catch((err) => this.logger.warn({ err }, 'request log pruning failed'));
    }
  }

  /**
   * Writes rows in batches of `perWrite` (all at once by default), letting the event loop turn between two. When
   * storage refuses the data itself (not an outage), that batch's rows go one at a time and a row it still refuses
   * is dropped: logged once, counted in `keyward_usage_rows_dropped_total`, never retried. On an outage the rows not
   * written are returned, to be put back; otherwise nothing is.
   */
  async #writeRows<T>(kind: DroppedKind, rows: T[], write: (rows: T[]) => Promise<void>, perWrite = rows.length): Promise<T[]> {
    for (let start = 0; start < rows.length; start += perWrite) {
      if (start > 0) await nextTurn();
      const batch = rows.slice(start, start + perWrite);
      try {
        await write(batch);
        continue;
      } catch (error) {
        if (!isRefusedData(error)) return this.#outage(error, rows.slice(start));
      }
      for (let i = 0; i < batch.length; i++) {
        try {
          await write([batch[i] as T]);
        } catch (error) {
          if (!isRefusedData(error)) return this.#outage(error, rows.slice(start + i));
          this.logger.error({ err: error, kind }, 'usage row refused by storage; dropped');
          this.options.onDropped?.(kind, 1);
        }
      }
    }
    return [];
  }

  /** Storage is unreachable: logged once per outage; the rows not written go back. */
  #outage<T>(error: unknown, rows: T[]): T[] {
    if (this.#failures === 0) this.logger.error({ err: error }, 'usage flush failed; will retry with backoff');
    return rows;
  }

  /** What could not be written goes back, merged and capped: pending state stays bounded through any outage. */
  #putBack(counters: Counter[], requests: RequestLogEntry[], audit: AuditEvent[]): void {
    const merged = new Map<string, Counter>();
    for (const d of [...counters, ...this.#earlier]) {
      const id = `${d.keyId}|${d.day}`;
      const had = merged.get(id);
      if (!had) merged.set(id, { ...d });
      else {
        had.allowed += d.allowed;
        had.denied += d.denied;
        had.credits += d.credits;
        had.lastUsedAt = Math.max(had.lastUsedAt, d.lastUsedAt);
      }
    }
    this.#earlier = [...merged.values()];
    const cap = Math.max(this.#requestCap, 1);
    const allRequests = requests.concat(this.#requests);
    if (allRequests.length > cap) this.options.onDropped?.('request_log', allRequests.length - cap);
    this.#requests = allRequests.slice(-cap);
    const allAudit = audit.concat(this.#audit);
    if (allAudit.length > MAX_PENDING_AUDIT) this.options.onDropped?.('audit', allAudit.length - MAX_PENDING_AUDIT);
    this.#audit = allAudit.slice(-MAX_PENDING_AUDIT);
  }

  /** Stops the timer and writes everything that is left (now, whatever the backoff). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#closing = true;
    await this.flush();
    if (this.#today.size > 0 || this.#earlier.length > 0 || this.#requests.length > 0) await this.flush();
  }
}
