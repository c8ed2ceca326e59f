import { createHash, createHmac } from 'node:crypto';
import type { Clock } from '../ids.js';
import type { ImportStore } from '../storage/store.js';

/** What cannot log in: the password hash of an account an import made for a key's owner (its claim link claims it). */
export const IMPORTED_ACCOUNT = '!imported';

/** The domain of the address an owner known only by an external id gets; claiming the account replaces it. */
export const EXTERNAL_ID_DOMAIN = '@imported.invalid';

/**
 * The address of the unclaimed account that holds an owner's imported keys when their address has an account here
 * the operator did not vouch for: derived from it, so that a re-import finds the same organization, and never a
 * deliverable address (nor an external id's: those have no `+`).
 */
export function heldAddress(email: string): string {
  return `held+${createHash('sha256').update(email).digest('hex').slice(0, 24)}${EXTERNAL_ID_DOMAIN}`;
}

const IMPORTED = 'sha256:';

/**
 * The stored hash of an imported key not used here yet: the SHA-256 (hex) its former product stored, marked so that
 * it can never be taken for keyward's HMAC. The key's first use replaces it with the HMAC.
 */
export function importedHash(sha256Hex: string): string {
  return `${IMPORTED}${sha256Hex}`;
}

/** The SHA-256 (hex) of an imported key not used here yet, or null for a key stored as keyward's HMAC. */
export function sha256OfImported(hash: string): string | null {
  return hash.startsWith(IMPORTED) ? hash.slice(IMPORTED.length) : null;
}

/** A keyed reference of the hash a key was imported with, kept after its first use so that a re-import skips it. */
export function importRefOf(secret: string, sha256Hex: string): string {
  return createHmac('sha256', secret).update(`import:${sha256Hex}`).digest('hex');
}

/**
 * Whether this server holds imported keys, which are the only keys of other formats worth a look-up: a key that is
 * not of keyward's format is refused at once unless there are. Asked of storage at start-up and every 30 s (an import
 * by `keyward-server admin import` beside a running server is seen within that), and set at once by an import
 * this server runs (the API's).
 */
export class ImportedKeys {
  #present = false;
  #checkedAt = Number.NEGATIVE_INFINITY;
  #checking: Promise<void> | null = null;

  constructor(
    private readonly store: ImportStore,
    private readonly clock: Clock,
  ) {}

  async refresh(): Promise<void> {
    this.#present = await this.store.hasImportedKeys();
    this.#checkedAt = this.clock.now();
  }

  /** One refresh at a time, however many look-ups ask for it. */
  #refreshOnce(): Promise<void> {
    this.#checking ??= this.refresh()
      .catch(() => undefined)
      .finally(() => {
        this.#checking = null;
      });
    return this.#checking;
  }

  present(now: number): boolean {
    if (now - this.#checkedAt > 30_000) void this.#refreshOnce();
    return this.#present;
  }

  /**
   * Whether imported keys are here, asked of storage (at most once a second) when none were known: a key that is
   * not of keyward's format finds the keys an import just stored, by any process on any instance, within a second,
   * instead of being called malformed until the next periodic check.
   */
  async presentNow(now: number): Promise<boolean> {
    if (this.#present) return true;
    if (now - this.#checkedAt >= 1000) await this.#refreshOnce();
    return this.#present;
  }

  /** An import just stored keys. */
  mark(): void {
    this.#present = true;
  }
}
