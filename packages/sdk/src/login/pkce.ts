import { createHash, randomBytes } from 'node:crypto';

/**
 * A PKCE pair (RFC 7636, S256) and a state value, fresh for every sign-in.
 *
 * @example
 * ```ts
 * const { verifier, challenge, state } = newPkce();
 * // send challenge + state in the authorization URL, verifier with the code to the token endpoint
 * ```
 */
export function newPkce() {
  const verifier = randomBytes(32).toString('base64url');
  return {
    verifier,
    challenge: createHash('sha256').update(verifier).digest('base64url'),
    state: randomBytes(24).toString('base64url'),
  };
}
