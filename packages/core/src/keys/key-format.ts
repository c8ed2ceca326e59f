import { isBase62, randomBase62 } from './base62.js';
import { CHECKSUM_LENGTH, checksumOf } from './checksum.js';

/** 36 base62 characters: 214 bits from the CSPRNG (the product asks for at least 192). */
export const RANDOM_LENGTH = 36;
export const KEY_BODY_LENGTH = RANDOM_LENGTH + CHECKSUM_LENGTH;

export interface KeyEnvironment {
  name: string;
  prefix: string;
}

export interface ParsedKey {
  environment: string;
  prefix: string;
  random: string;
  checksum: string;
  /** The last 4 characters: what a person sees next to the prefix. */
  last4: string;
}

export type ParseResult =
  | { ok: true; key: ParsedKey }
  | { ok: false; reason: 'unknown_prefix' | 'bad_length' | 'bad_characters' | 'bad_checksum' };

/**
 * Whether a key's body — the 42 characters after its prefix — is base62 and ends in the checksum of its random
 * part. Needs no prefix and no storage: what parsers, scanners and clients use to catch a typo or a fake.
 */
export function checksumMatches(body: string): boolean {
  return body.length === KEY_BODY_LENGTH && isBase62(body) && checksumOf(body.slice(0, RANDOM_LENGTH)) === body.slice(RANDOM_LENGTH);
}

/** Mints a new raw key for an environment: `<prefix><36 random base62><6 checksum>`. */
export function generateKey(environment: KeyEnvironment): string {
  const random = randomBase62(RANDOM_LENGTH);
  return environment.prefix + random + checksumOf(random);
}

/**
 * Knows every configured prefix and tells, without any storage, whether a string can be one of our keys and
 * of which environment. Longer prefixes are tried first, so `nv_test_` and `nv_` can live side by side.
 */
export class KeyFormat {
  readonly #environments: KeyEnvironment[];

  constructor(environments: readonly KeyEnvironment[]) {
    if (environments.length === 0) throw new Error('at least one environment is required');
    this.#environments = [...environments].sort((a, b) => b.prefix.length - a.prefix.length);
  }

  environment(name: string): KeyEnvironment | undefined {
    return this.#environments.find((e) => e.name === name);
  }

  generate(environmentName: string): string {
    const env = this.environment(environmentName);
    if (!env) throw new Error(`unknown environment ${environmentName}`);
    return generateKey(env);
  }

  parse(raw: string): ParseResult {
    const env = this.#environments.find((e) => raw.startsWith(e.prefix));
    if (!env) return { ok: false, reason: 'unknown_prefix' };
    const body = raw.slice(env.prefix.length);
    if (body.length !== KEY_BODY_LENGTH) return { ok: false, reason: 'bad_length' };
    if (!isBase62(body)) return { ok: false, reason: 'bad_characters' };
    if (!checksumMatches(body)) return { ok: false, reason: 'bad_checksum' };
    const random = body.slice(0, RANDOM_LENGTH);
    const checksum = body.slice(RANDOM_LENGTH);
    return { ok: true, key: { environment: env.name, prefix: env.prefix, random, checksum, last4: body.slice(-4) } };
  }
}

/** The form a key is shown in after its one showing: prefix, an ellipsis, the last 4 characters. */
export function displayKey(prefix: string, last4: string): string {
  return `${prefix}…${last4}`;
}
