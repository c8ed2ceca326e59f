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
