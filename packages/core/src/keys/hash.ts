import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Keyed SHA-256 (HMAC with the server secret) of a raw key, hex. A stolen database alone does not let anyone
 * test guesses offline: the secret lives outside it.
 */
export function hashKey(secret: string | Buffer, raw: string): string {
  return createHmac('sha256', secret).update(raw).digest('hex');
}

/** Compares two secrets in time that does not depend on where they first differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  if (x.length !== y.length) {
    timingSafeEqual(x, x);
    return false;
  }
  return timingSafeEqual(x, y);
}
