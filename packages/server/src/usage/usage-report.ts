import { dayOf, monthOf, nextMonthStart } from '@keyward/core';
import type { DailyUsage, Store } from '../storage/store.js';
import type { UsageRecorder } from './usage-recorder.js';

/**
 * A key's usage per day from `fromDay` to `toDay` (inclusive, `YYYY-MM-DD`): what storage holds plus what the
 * recorder has not written yet, so answers include the last second. Sorted by day.
 */
export async function usageByDay(
  store: Store,
  recorder: UsageRecorder,
  keyId: string,
  fromDay: string,
  toDay: string,
): Promise<DailyUsage[]> {
  const days = new Map((await store.dailyUsage(keyId, fromDay, toDay)).map((d) => [d.day, { ...d }]));
  for (const p of recorder.pending(keyId)) {
    if (p.day < fromDay || p.day > toDay) continue;
    const d = days.get(p.day);
    if (d) {
      d.allowed += p.allowed;
      d.denied += p.denied;
    } else days.set(p.day, { ...p });
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
  daily: DailyUsage[];
}

/** Allowed requests this month by every key of a lineage: what its shared monthly quota has counted. */
export async function lineageMonthUsage(store: Store, recorder: UsageRecorder, lineageId: string, now: number): Promise<number> {
  const month = monthOf(now);
  let used = 0;
  for (const keyId of await store.lineageKeyIds(lineageId)) {
    const days = await usageByDay(store, recorder, keyId, `${month}-01`, `${month}-31`);
    used += days.reduce((n, d) => n + d.allowed, 0);
  }
  return used;
}

/** A key's usage as the usage endpoint and the key's page show it: this month's totals and the last 30 days. */
export async function keyUsage(store: Store, recorder: UsageRecorder, keyId: string, now: number): Promise<KeyUsage> {
  const month = monthOf(now);
  const from = dayOf(now - 29 * 86_400_000);
  const monthStart = `${month}-01`;
  const days = await usageByDay(store, recorder, keyId, from < monthStart ? from : monthStart, dayOf(now));
  const inMonth = days.filter((d) => d.day >= monthStart);
  return {
    month,
    allowed: inMonth.reduce((n, d) => n + d.allowed, 0),
    denied: inMonth.reduce((n, d) => n + d.denied, 0),
    resetsAt: nextMonthStart(now),
    daily: days.filter((d) => d.day >= from),
  };
}
