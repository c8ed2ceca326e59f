import { dayOf, monthOf, nextMonthStart } from '@keyward/core';
import type { DailyUsage, KeyStore, UsageStore } from '../storage/store.js';
import type { UsageRecorder } from './usage-recorder.js';

/** A day's usage summed over one or more keys. */
export type DayUsage = Omit<DailyUsage, 'keyId'>;

/**
 * The usage per day of a set of keys (one key, a lineage, a tree) from `fromDay` to `toDay` (inclusive,
 * `YYYY-MM-DD`), summed over the keys: what storage holds plus what the recorder has not written yet, so answers
 * include the last second. Sorted by day.
 */
export async function usageByDay(
  store: UsageStore & KeyStore,
  recorder: UsageRecorder,
  keyIds: readonly string[],
  fromDay: string,
  toDay: string,
): Promise<DayUsage[]> {
  const days = new Map<string, DayUsage>();
  const rows = keyIds.length === 0 ? [] : await store.dailyUsage(keyIds, fromDay, toDay);
  for (const r of [...rows, ...recorder.pending(new Set(keyIds))]) {
    if (r.day < fromDay || r.day > toDay) continue;
    const d = days.get(r.day);
    if (d) {
      d.allowed += r.allowed;
      d.denied += r.denied;
      d.credits += r.credits;
    } else days.set(r.day, { day: r.day, allowed: r.allowed, denied: r.denied, credits: r.credits });
  }
  return [...days.values()].sort((a, b) => a.day.localeCompare(b.day));
}

export interface KeyUsage {
  /** `YYYY-MM` of `now`. */
  month: string;
  /** Allowed and denied requests this month; allowed ones count against the quota. */
  allowed: number;
  denied: number;
  /** When the monthly quota resets: 00:00 UTC on the 1st of next month. */
  resetsAt: number;
  /** The last 30 days, oldest first, only days with requests. */
  daily: DayUsage[];
}

/** Every key whose requests a lineage's limits count: the lineage's keys and every key derived from one of them. */
export async function lineageTree(store: UsageStore & KeyStore, lineageId: string): Promise<string[]> {
  return store.subtreeKeyIds(await store.lineageKeyIds(lineageId));
}

/**
 * Allowed requests this month by a lineage and every key derived from it: what its shared monthly quota has
 * counted (a child's requests count towards each ancestor's quota too).
 */
export async function lineageMonthUsage(
  store: UsageStore & KeyStore,
  recorder: UsageRecorder,
  lineageId: string,
  now: number,
): Promise<number> {
  const month = monthOf(now);
  const days = await usageByDay(store, recorder, await lineageTree(store, lineageId), `${month}-01`, `${month}-31`);
  return days.reduce((n, d) => n + d.allowed, 0);
}

/** Credits spent, ever, by a lineage and every key derived from it: what its budget has used. */
export async function lineageCreditsSpent(store: UsageStore & KeyStore, recorder: UsageRecorder, lineageId: string): Promise<number> {
  const days = await usageByDay(store, recorder, await lineageTree(store, lineageId), '0000-01-01', '9999-12-31');
  return days.reduce((n, d) => n + d.credits, 0);
}

/** Allowed requests this month per key, for each of `keyIds` (storage plus what is not written yet). */
export async function monthAllowedByKey(
  store: UsageStore & KeyStore,
  recorder: UsageRecorder,
  keyIds: readonly string[],
  now: number,
): Promise<Map<string, number>> {
  const month = monthOf(now);
  const out = new Map(keyIds.map((id) => [id, 0]));
  const rows = keyIds.length === 0 ? [] : await store.dailyUsage(keyIds, `${month}-01`, `${month}-31`);
  for (const r of [...rows, ...recorder.pending(new Set(keyIds))]) {
    if (r.day.startsWith(month)) out.set(r.keyId, (out.get(r.keyId) ?? 0) + r.allowed);
  }
  return out;
}

/** The usage of a set of keys as the usage endpoint and the key's page show it: this month and the last 30 days. */
export async function keyUsage(
  store: UsageStore & KeyStore,
  recorder: UsageRecorder,
  keyIds: readonly string[],
  now: number,
): Promise<KeyUsage> {
  const month = monthOf(now);
  const from = dayOf(now - 29 * 86_400_000);
  const monthStart = `${month}-01`;
  const days = await usageByDay(store, recorder, keyIds, from < monthStart ? from : monthStart, dayOf(now));
  const inMonth = days.filter((d) => d.day >= monthStart);
  return {
    month,
    allowed: inMonth.reduce((n, d) => n + d.allowed, 0),
    denied: inMonth.reduce((n, d) => n + d.denied, 0),
    resetsAt: nextMonthStart(now),
    daily: days.filter((d) => d.day >= from),
  };
}
