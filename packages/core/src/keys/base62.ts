import { randomFillSync } from 'node:crypto';

/** GitHub's alphabet for token checksums: digits, then upper case, then lower case. */
export const BASE62_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const BASE62_RE = /^[0-9A-Za-z]+$/;

export function isBase62(text: string): boolean {
  return BASE62_RE.test(text);
}

/** Writes a non-negative integer in base62, left-padded with `0` to `width` characters. */
export function encodeBase62(value: number, width: number): string {
  let n = value;
  let out = '';
  while (n > 0) {
    out = BASE62_ALPHABET[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out.padStart(width, '0');
}

/**
 * CSPRNG bytes drawn a pool at a time, as Node's own `randomUUID` does: one call into OpenSSL per 4 KiB rather than
 * one per id (a request id each request, a request-log id per logged request). Each byte is handed out once.
 */
const POOL = Buffer.alloc(4096);
let poolAt = POOL.length;

/**
 * `length` characters drawn uniformly from the base62 alphabet by the CSPRNG. Bytes of 248 and above are
 * rejected so that `byte % 62` carries no modulo bias; each character then carries log2(62) ≈ 5.95 bits.
 */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    if (poolAt === POOL.length) {
      randomFillSync(POOL);
      poolAt = 0;
    }
    const byte = POOL[poolAt++] as number;
    if (byte < 248) out += BASE62_ALPHABET[byte % 62];
  }
  return out;
}
