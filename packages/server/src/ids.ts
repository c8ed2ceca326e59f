import { randomBase62 } from '@keyward/core';

/** Unguessable ids with a readable type prefix: `key_…`, `usr_…`, `org_…`. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBase62(22)}`;
}

let sequence = 0;

/**
 * An id that sorts by creation: time, then a per-process counter, then `random` base62 characters. Audit events are
 * listed by it, so events of the same millisecond keep their order; imported keys (written by the hundred thousand)
 * take 9 random characters, the 22-character shape of `newId`'s, so that their ids append to their index instead of
 * landing all over it.
 */
export function sortableId(prefix: string, at: number, random = 12): string {
  sequence = (sequence + 1) % 1_679_616;
  return `${prefix}_${at.toString(36).padStart(9, '0')}${sequence.toString(36).padStart(4, '0')}${randomBase62(random)}`;
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
