import { createHash } from 'node:crypto';
import { randomBase62 } from '@keyward/core';

/** A bearer secret for sessions and invites: only its SHA-256 is stored. */
export function newToken(prefix: string): { token: string; hash: string } {
  const token = `${prefix}${randomBase62(43)}`;
  return { token, hash: sha256(token) };
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
