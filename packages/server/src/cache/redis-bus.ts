import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Invalidation, InvalidationBus } from './invalidation-bus.js';

/**
 * Cache invalidations over Redis pub/sub: a revocation, rotation or role change on one instance reaches every other
 * instance's cache as soon as Redis delivers the message, not when the entry's TTL runs out.
 */
export class RedisBus implements InvalidationBus {
  readonly #channel: string;
  #subscriber: Redis | null = null;

  constructor(
    private readonly publisher: Redis,
    private readonly logger: Logger,
    keyPrefix = 'keyward:',
  ) {
    this.#channel = `${keyPrefix}invalidate`;
  }

  async publish(event: Invalidation): Promise<void> {
    try {
      await this.publisher.publish(this.#channel, JSON.stringify(event));
    } catch (error) {
      // Other instances then drop the entry when its TTL ends; this one already did.
      this.logger.warn({ err: { message: (error as Error).message } }, 'could not publish a cache invalidation');
    }
  }

  async subscribe(handler: (event: Invalidation) => void): Promise<void> {
    const sub = this.publisher.duplicate({ enableOfflineQueue: true });
    this.#subscriber = sub;
    sub.on('error', () => {});
    sub.on('message', (channel: string, message: string) => {
      if (channel !== this.#channel) return;
      try {
        handler(JSON.parse(message) as Invalidation);
      } catch {
        this.logger.warn('ignored a malformed cache invalidation');
      }
    });
    await sub.subscribe(this.#channel);
  }

  async close(): Promise<void> {
    this.#subscriber?.disconnect();
  }
}
