/** What one instance tells the others so their caches drop stale entries (Redis pub/sub when configured). */
export type Invalidation =
  | { type: 'key'; keyId: string }
  | { type: 'creator'; orgId: string; userId: string }
  | { type: 'org'; orgId: string };

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

/**
 * How a change that alters what a key may do is made known: this instance's cache drops the entries now (the bus
 * does not echo an instance's own events), then every other instance hears it. The one way services invalidate.
 */
export class Invalidations {
  constructor(
    private readonly local: { apply(event: Invalidation): void },
    private readonly bus: InvalidationBus,
  ) {}

  async send(event: Invalidation): Promise<void> {
    this.local.apply(event);
    await this.bus.publish(event);
  }

  /** Keys changed one by one (a subtree's members, a rotation's pair). */
  async keys(keyIds: readonly string[]): Promise<void> {
    for (const keyId of keyIds) await this.send({ type: 'key', keyId });
  }
}
