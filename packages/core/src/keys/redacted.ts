import { inspect } from 'node:util';

const REDACTED = '[REDACTED]';

/**
 * Holds a secret so that printing, logging or serialising it by accident shows `[REDACTED]`. Read the value on
 * purpose with `reveal()`.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return REDACTED;
  }
  toJSON(): string {
    return REDACTED;
  }
  [inspect.custom](): string {
    return REDACTED;
  }
}
