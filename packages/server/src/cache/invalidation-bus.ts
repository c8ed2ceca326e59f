import type { Invalidation } from './key-cache.js';

/** Carries cache invalidations between server instances. */
export interface InvalidationBus {
  publish(event: Invalidation): Promise<void>;
  subscribe(handler: (event: Invalidation) => void): Promise<void>;
  close(): Promise<void>;
}

/** One instance: nothing to tell anyone. */
export const localBus: InvalidationBus = {
  async publish() {},
  async subscribe() {},
  async close() {},
};
