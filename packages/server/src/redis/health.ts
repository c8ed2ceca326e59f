import type { Logger } from 'pino';

/**
 * Whether Redis answered the last time a component asked it. Each component that counts in Redis keeps working
 * through an outage in its own documented way, and says so in the log: once when the outage starts (not at every
 * failed command, which would flood the log at request rate) and once when Redis answers again. Each keeps its own,
 * so that its lines say what the outage means for it.
 */
export class RedisHealth {
  #down = false;

  constructor(
    private readonly logger: Logger,
    private readonly says: { down: string; back: string },
  ) {}

  /** A command failed: the first failure of an outage is logged, as an error. */
  failed(error: unknown): void {
    if (this.#down) return;
    this.#down = true;
    this.logger.error({ err: { message: (error as Error).message } }, this.says.down);
  }

  /** A command succeeded: the first success after an outage is logged. */
  answered(): void {
    if (!this.#down) return;
    this.#down = false;
    this.logger.warn(this.says.back);
  }
}
