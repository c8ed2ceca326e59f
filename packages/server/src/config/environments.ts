import { type ErrorDetails, KeyFormat, KeywardError, type ServedEnvironments } from '@keyward/core';
import type { EnvironmentConfig } from './config.js';

/** An environment no longer configured whose keys are still in storage: per prefix it used. */
export interface RetiredEnvironment {
  name: string;
  prefix: string;
}

/**
 * The environments of this server, decided once at start: the ones it serves (from the config) and the retired ones
 * (configured before, with keys left in storage). Everything that asks "is this environment served?" asks here: the
 * verifier and its cache, the services, the presenters and the pages.
 */
export class Environments implements ServedEnvironments {
  /** Issues keys of served environments only. */
  readonly issuing: KeyFormat;
  /** Reads keys of served and retired environments: a retired key reaches storage, so it is refused with its reason. */
  readonly lookup: KeyFormat;
  /** Names of the served environments, and of the retired ones (each once). */
  readonly servedNames: readonly string[];
  readonly retiredNames: readonly string[];
  readonly #byName: ReadonlyMap<string, EnvironmentConfig>;

  constructor(
    readonly served: readonly EnvironmentConfig[],
    readonly retired: readonly RetiredEnvironment[] = [],
  ) {
    this.#byName = new Map(served.map((e) => [e.name, e]));
    this.issuing = new KeyFormat(served);
    this.lookup = new KeyFormat([...served, ...retired]);
    this.servedNames = served.map((e) => e.name);
    this.retiredNames = [...new Set(retired.map((r) => r.name))];
  }

  serves(name: string): boolean {
    return this.#byName.has(name);
  }

  /** A served environment's settings (its prefix and base URL), or undefined. */
  get(name: string): EnvironmentConfig | undefined {
    return this.#byName.get(name);
  }

  /** The environment a request that names none gets: the first configured. */
  get default(): EnvironmentConfig | undefined {
    return this.served[0];
  }

  /**
   * The environment a new key or sign-in is for: the one asked for, or the default when none is; a 400 naming the
   * served ones when it is not served (a retired environment issues no keys).
   */
  pick(asked: string | undefined, details: ErrorDetails = {}): string {
    const name = asked ?? this.default?.name ?? 'test';
    if (!this.serves(name)) throw new KeywardError('invalid_request', `environment must be one of: ${this.names(', ')}.`, {}, details);
    return name;
  }

  /** The served names, for messages: "live or test". */
  names(joiner = ' or '): string {
    return this.served.map((e) => e.name).join(joiner);
  }

  /** Served or retired: an environment whose keys the dashboard and the API still list. */
  known(name: string): boolean {
    return this.serves(name) || this.retiredNames.includes(name);
  }
}
