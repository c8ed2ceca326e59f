import { describe, expect, it } from 'vitest';
import { usable } from './allowances.js';

describe('what a lease may still answer', () => {
  // A lease of 6 from an idle key of 60 a minute, taken at 0: its requests' slots end at 1 s, 2 s, … 6 s.
  const lease = { requests: 6, rates: [{ end: 6000, interval: 1000 }] };

  it('answers the whole lease at once while every slot lasts', () => {
    expect(usable(lease, 0)).toBe(6);
    expect(usable(lease, 999)).toBe(6);
  });

  it('lets a request whose slot has ended go unanswered (given back instead), so late answers never add to a burst', () => {
    expect(usable(lease, 3500)).toBe(3);
    expect(usable(lease, 6000)).toBe(0);
    expect(usable({ ...lease, requests: 2 }, 3500)).toBe(2);
  });

  it('follows the tightest of a key’s and its parent’s limits, and only counts when there is no per-minute limit', () => {
    expect(usable({ requests: 6, rates: [lease.rates[0] as { end: number; interval: number }, { end: 2000, interval: 500 }] }, 1000)).toBe(
      2,
    );
    expect(usable({ requests: 6, rates: [] }, 1_000_000)).toBe(6);
  });
});
