import { randomBase62 } from '@keyward/core';

/** Unguessable ids with a readable type prefix: `key_…`, `usr_…`, `org_…`. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBase62(22)}`;
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
