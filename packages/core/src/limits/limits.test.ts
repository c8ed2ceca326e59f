import { describe, expect, it } from 'vitest';
import { evaluateGcra, evaluateQuota } from './gcra.js';
import { nextMonthStart, secondsUntil } from './windows.js';

describe('GCRA', () => {
  it('lets a burst of `limit` through, refuses the next, and says when to retry', () => {
    let tat = 0;
    const now = 1_000_000;
    const seen = [];
    for (let i = 0; i < 61; i++) {
      const d = evaluateGcra({ tat, now, limit: 60, periodMs: 60_000 });
      if (d.allowed) tat = d.tat;
      seen.push(d);
    }
    expect(seen.slice(0, 60).every((d) => d.allowed)).toBe(true);
    expect(seen[0]?.remaining).toBe(59);
    expect(seen[59]?.remaining).toBe(0);
    const denied = seen[60];
    expect(denied?.allowed).toBe(false);
    expect(denied?.retryAfterMs).toBe(1000);
    expect(denied?.resetMs).toBe(60_000);
  });

  it('refills one request per interval', () => {
    let tat = 0;
    for (let i = 0; i < 5; i++) tat = evaluateGcra({ tat, now: 0, limit: 5, periodMs: 60_000 }).tat;
    expect(evaluateGcra({ tat, now: 11_999, limit: 5, periodMs: 60_000 }).allowed).toBe(false);
    expect(evaluateGcra({ tat, now: 12_000, limit: 5, periodMs: 60_000 }).allowed).toBe(true);
  });

  it('takes `count` requests at once: a take of 10 from 60/min leaves 50, and one larger than what is left is refused whole', () => {
    const now = 1_000_000;
    const lease = evaluateGcra({ tat: 0, now, limit: 60, periodMs: 60_000, count: 10 });
    expect(lease).toMatchObject({ allowed: true, tat: now + 10_000, remaining: 50, resetMs: 10_000 });
    const rest = evaluateGcra({ tat: lease.tat, now, limit: 60, periodMs: 60_000, count: 50 });
    expect(rest).toMatchObject({ allowed: true, remaining: 0 });
    const tooMany = evaluateGcra({ tat: lease.tat, now, limit: 60, periodMs: 60_000, count: 51 });
    expect(tooMany).toMatchObject({ allowed: false, tat: lease.tat, remaining: 0, retryAfterMs: 1000 });
    expect(evaluateGcra({ tat: 0, now, limit: 60, periodMs: 60_000, count: 61 }).allowed).toBe(false);
  });

  it('holds a take counted at least `holdMs`: an idle key lends that much of its minute less, a busy one nothing less', () => {
    const now = 1_000_000;
    const idle = evaluateGcra({ tat: 0, now, limit: 60, periodMs: 60_000, count: 3, holdMs: 2000 });
    // The 3 requests' slots end at 3, 4 and 5 s: counted until the 2 s lease has surely ended.
    expect(idle).toMatchObject({ allowed: true, tat: now + 5000, remaining: 55 });
    const busy = evaluateGcra({ tat: now + 30_000, now, limit: 60, periodMs: 60_000, count: 3, holdMs: 2000 });
    expect(busy).toMatchObject({ allowed: true, tat: now + 33_000, remaining: 27 });
  });
});

describe('monthly quota', () => {
  it('resets at 00:00 UTC on the 1st', () => {
    expect(new Date(nextMonthStart(Date.UTC(2026, 10, 23, 15))).toISOString()).toBe('2026-12-01T00:00:00.000Z');
    expect(new Date(nextMonthStart(Date.UTC(2026, 11, 31, 23, 59))).toISOString()).toBe('2027-01-01T00:00:00.000Z');
  });

  it('allows while under the limit and points Retry-After at the reset', () => {
    const now = Date.UTC(2026, 10, 30, 23, 0);
    const reset = nextMonthStart(now);
    expect(evaluateQuota(999, 1000, reset, now)).toMatchObject({ allowed: true, remaining: 0 });
    const over = evaluateQuota(1000, 1000, reset, now);
    expect(over.allowed).toBe(false);
    expect(secondsUntil(now + over.retryAfterMs, now)).toBe(3600);
  });

  it('takes `count` requests at once, or none when they do not all fit', () => {
    const now = Date.UTC(2026, 10, 30, 23, 0);
    const reset = nextMonthStart(now);
    expect(evaluateQuota(990, 1000, reset, now, 10)).toMatchObject({ allowed: true, remaining: 0, retryAfterMs: 0 });
    expect(evaluateQuota(991, 1000, reset, now, 10)).toMatchObject({ allowed: false, remaining: 9, retryAfterMs: 3_600_000 });
    expect(evaluateQuota(0, 1000, reset, now, 5)).toMatchObject({ allowed: true, remaining: 995 });
  });
});
