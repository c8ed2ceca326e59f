import type { Selectable } from 'kysely';
import type { DailyUsage, RequestLogEntry } from '../../entities.js';
import { num } from '../columns.js';
import type { Database } from '../schema.js';

type DailyUsageRow = Selectable<Database['usage_daily']>;
type RequestRow = Selectable<Database['request_log']>;

export function dailyUsageFromRow(r: DailyUsageRow): DailyUsage {
  return { keyId: r.key_id, day: r.day, allowed: num(r.allowed), denied: num(r.denied), credits: num(r.credits) };
}

export function dailyUsageToRow(d: DailyUsage): DailyUsageRow {
  return { key_id: d.keyId, day: d.day, allowed: d.allowed, denied: d.denied, credits: d.credits };
}

export function requestFromRow(r: RequestRow): RequestLogEntry {
  return { id: r.id, keyId: r.key_id, orgId: r.org_id, method: r.method, path: r.path, status: num(r.status), ip: r.ip, at: num(r.at) };
}

export function requestToRow(r: RequestLogEntry): RequestRow {
  return { id: r.id, key_id: r.keyId, org_id: r.orgId, method: r.method, path: r.path, status: r.status, ip: r.ip, at: r.at };
}
