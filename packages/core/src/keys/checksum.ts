import { crc32 } from 'node:zlib';
import { encodeBase62 } from './base62.js';

export const CHECKSUM_LENGTH = 6;

/**
 * GitHub's token checksum: IEEE CRC-32 of the random part's ASCII characters (never the prefix), in base62,
 * left-padded to 6 characters. 2^32 < 62^6, so the first character is always 0–4.
 */
export function checksumOf(randomPart: string): string {
  return encodeBase62(crc32(randomPart), CHECKSUM_LENGTH);
}
