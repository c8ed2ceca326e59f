import { hash as oneShotHash } from 'node:crypto';
import { hashKey, type KeyFormat } from '@keyward/core';
import type { Clock } from '../ids.js';
import { type ImportedKeys, importedHash, importRefOf } from '../import/imported-keys.js';
import type { ImportStore, KeyForVerify, KeyStore } from '../storage/store.js';

/** What an imported key may look like: printable, no spaces, 16 to 256 characters. Anything else is not looked up. */
const IMPORTABLE = /^[\x21-\x7e]{16,256}$/;

/**
 * Where a raw key stands in storage, or why its text alone says it is none of ours (no look-up then). `imported` is
 * set when it was found by the SHA-256 another product stored: a key imported and not used here yet.
 */
export type Found =
  | { ok: false; reason: 'malformed' | 'bad_checksum' }
  | { ok: true; key: KeyForVerify | undefined; hmac: string; imported: { hash: string; sha256: string } | null };

/**
 * The one way from a raw key to its row, for the verify path and for leak reports alike. A key of keyward's format
 * (its checksum holds) is looked up by keyward's HMAC. A key of another format is refused from its text alone,
 * unless this server holds imported keys: then by the HMAC (an imported key used here before), then by the SHA-256
 * its former product stored.
 */
export class KeyLookup {
  constructor(
    private readonly deps: { format: KeyFormat; store: KeyStore & ImportStore; secret: string; clock: Clock; imported: ImportedKeys },
  ) {}

  async find(raw: string): Promise<Found> {
    const { format, store, secret, imported, clock } = this.deps;
    const parsed = format.parse(raw);
    if (!parsed.ok && (!IMPORTABLE.test(raw) || !(imported.present(clock.now()) || (await imported.presentNow(clock.now()))))) {
      return { ok: false, reason: parsed.reason === 'bad_checksum' ? 'bad_checksum' : 'malformed' };
    }
    const hmac = hashKey(secret, raw);
    if (parsed.ok) return { ok: true, key: await store.findKeyForVerify(hmac), hmac, imported: null };
    // Both look-ups at once (on PostgreSQL, on two connections) rather than one after the other: a key is stored
    // under one of the two hashes, never both.
    const sha256 = oneShotHash('sha256', raw, 'hex');
    const [used, key] = await Promise.all([store.findKeyForVerify(hmac), store.findKeyForVerify(importedHash(sha256))]);
    if (used) return { ok: true, key: used, hmac, imported: null };
    return { ok: true, key, hmac, imported: key ? { hash: importedHash(sha256), sha256 } : null };
  }

  /**
   * An imported key's first successful use: keyward's HMAC replaces the SHA-256 it was imported with, so a stolen
   * database soon holds only HMACs (written once, even by racing first uses).
   */
  adopt(found: Found & { ok: true }, raw: string): Promise<boolean> {
    if (!found.key || !found.imported) return Promise.resolve(false);
    const { store, secret } = this.deps;
    return store.rehashImported(found.key.id, found.hmac, raw.slice(-4), found.imported.hash, importRefOf(secret, found.imported.sha256));
  }
}
