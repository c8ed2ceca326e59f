import pg from 'pg';
import type { Logger } from 'pino';
import type { Invalidation, InvalidationBus } from './invalidation-bus.js';

const CHANNEL = 'keyward_invalidate';

/**
 * Cache invalidations over PostgreSQL's LISTEN/NOTIFY, on the database every instance already shares: revocations,
 * rotations and role changes reach the other instances in milliseconds even while Redis is down (or not
 * configured). One dedicated connection listens and reconnects after a failure; events it may have missed while
 * disconnected are covered by `onGap`, which the composition root points at clearing the cache.
 */
export class PostgresBus implements InvalidationBus {
  #listener: pg.Client | null = null;
  #handler: ((event: Invalidation) => void) | null = null;
  #closed = false;
  #retry: NodeJS.Timeout | null = null;
  /** Notifications go out over a small pool of their own: a connection per event would fork a backend each time. */
  readonly #publisher: pg.Pool;

  constructor(
    private readonly url: string,
    private readonly logger: Logger,
    private readonly onGap: () => void = () => {},
  ) {
    this.#publisher = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 2000, idleTimeoutMillis: 30_000 });
    // An idle connection that breaks (PostgreSQL restarted) is dropped by the pool; the next publish opens another.
    this.#publisher.on('error', () => {});
  }

  async publish(event: Invalidation): Promise<void> {
    try {
      await this.#publisher.query('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify(event)]);
    } catch (error) {
      this.logger.warn({ err: { message: (error as Error).message } }, 'could not notify a cache invalidation over PostgreSQL');
    }
  }

  async subscribe(handler: (event: Invalidation) => void): Promise<void> {
    this.#handler = handler;
    await this.#listen(false);
  }

  async #listen(afterGap: boolean): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 2000 });
    const again = () => {
      if (this.#closed || this.#retry) return;
      this.#listener = null;
      this.#retry = setTimeout(() => {
        this.#retry = null;
        void this.#listen(true);
      }, 1000);
      this.#retry.unref();
    };
    client.on('error', again);
    client.on('end', again);
    client.on('notification', (n) => {
      if (n.channel !== CHANNEL || !n.payload) return;
      try {
        this.#handler?.(JSON.parse(n.payload) as Invalidation);
      } catch {
        this.logger.warn('ignored a malformed cache invalidation');
      }
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      this.#listener = client;
      // Whatever was revoked while no one listened is unknown: forget every cached key once.
      if (afterGap) this.onGap();
    } catch (error) {
      this.logger.warn({ err: { message: (error as Error).message } }, 'cannot listen for cache invalidations on PostgreSQL; retrying');
      await client.end().catch(() => {});
      again();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    await this.#listener?.end().catch(() => {});
    await this.#publisher.end().catch(() => {});
  }
}

/** Several buses as one: every event goes out on each, and comes in from each (applying one twice is harmless). */
export function fanOut(buses: InvalidationBus[]): InvalidationBus {
  return {
    async publish(event) {
      await Promise.all(buses.map((b) => b.publish(event)));
    },
    async subscribe(handler) {
      await Promise.all(buses.map((b) => b.subscribe(handler)));
    },
    async close() {
      await Promise.all(buses.map((b) => b.close()));
    },
  };
}
