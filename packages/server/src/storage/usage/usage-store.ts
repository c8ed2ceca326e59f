import type { DailyUsage, RequestLogEntry, UsageBatch } from '../../entities.js';
import type { PageRequest } from '../../pagination.js';
import type { Served } from '../keys/active-keys.js';

/** What keys were used for: daily counters per key, the request log, and the keys' last-used times. */
export interface UsageStore {
  /** One flush of the recorder, in one transaction: counters added, request log lines, and each key's last use. */
  recordUsage(batch: UsageBatch): Promise<void>;
  /** Usage per key and day of one key or several, oldest day first. */
  dailyUsage(keyIds: string | readonly string[], fromDay: string, toDay: string): Promise<DailyUsage[]>;
  /** A key's request log, newest first. */
  recentRequests(keyId: string, page: PageRequest): Promise<RequestLogEntry[]>;
  pruneRequestLog(olderThan: number, keepRows: number): Promise<void>;
  /** An organization at a glance, in one query: its active keys, and the requests its keys were allowed since `fromDay`. */
  orgOverview(orgId: string, now: number, fromDay: string, served: Served): Promise<{ activeKeys: number; allowed: number }>;
}
