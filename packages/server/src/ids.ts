import { randomBase62 } from '@keyward/core';

/** Unguessable ids with a readable type prefix: `key_…`, `usr_…`, `org_…`. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBase62(22)}`;
}

let sequence = 0;

/**
 * An id that sorts by creation: time, then a per-process counter, then randomness. Audit events are listed by
 * it, so events of the same millisecond keep their order.
 */
export function sortableId(prefix: string, at: number): string {
  sequence = (sequence + 1) % 1_679_616;
  return `${prefix}_${at.toString(36).padStart(9, '0')}${sequence.toString(36).padStart(4, '0')}${randomBase62(12)}`;
}

/**
 * A 22-character id (the shape of `newId`'s) that sorts by creation: time and a counter in base36, then base62
 * randomness. For rows written by the hundred thousand (imports), whose ids then append to their index instead of
 * landing all over it.
 */
export function sortableShortId(prefix: string, at: number): string {
  sequence = (sequence + 1) % 1_679_616;
  return `${prefix}_${at.toString(36).padStart(9, '0')}${sequence.toString(36).padStart(4, '0')}${randomBase62(9)}`;
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
