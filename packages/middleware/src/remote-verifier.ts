import {
  fromWire,
  type KeyVerifier,
  VerifierUnavailableError,
  type VerifyCode,
  type VerifyOutcome,
  type VerifyRequest,
} from '@keyward/core';

export { VerifierUnavailableError };

export interface RemoteVerifierOptions {
  /** The keyward server, e.g. `https://keys.example.com`. */
  baseUrl: string;
  /** How long a key that is known to be unusable (unknown, revoked, expired) is refused without asking again. */
  negativeCacheMs?: number;
  /** Give up on the server after this long; the request then gets 503. */
  timeoutMs?: number;
  /**
   * An operator-level verifier credential (`keyward admin verifier-credential`; default: the
   * `KEYWARD_VERIFIER_CREDENTIAL` environment variable). With it the server checks the client's address and path
   * as this process saw them and answers with the key's organization and metadata; without it, the server checks
   * this process's own address and leaves those out.
   */
  credential?: string;
  fetch?: typeof fetch;
}

const PERMANENT = new Set<VerifyCode>(['NOT_FOUND', 'REVOKED', 'EXPIRED']);

/**
 * Verifies keys by calling `POST /v1/keys/verify` of a keyward server. Every allowed request is asked about, so the
 * server counts it against the key's limits; only refusals that cannot change soon are remembered, briefly, so that
 * a client hammering with a dead key does not hammer the keyward server too.
 *
 * @example
 * ```ts
 * import { keywardFastify, remoteVerifier } from '@keyward/middleware/fastify';
 * await app.register(keywardFastify, { verifier: remoteVerifier({ baseUrl: 'https://keys.example.com' }), environment: 'live' });
 * ```
 */
export function remoteVerifier(options: RemoteVerifierOptions): KeyVerifier {
  const endpoint = new URL('/v1/keys/verify', options.baseUrl).toString();
  const doFetch = options.fetch ?? fetch;
  const negativeMs = options.negativeCacheMs ?? 5000;
  const credential = options.credential ?? process.env.KEYWARD_VERIFIER_CREDENTIAL;
  const refused = new Map<string, { outcome: VerifyOutcome; until: number }>();

  return {
    async verify(request: VerifyRequest): Promise<VerifyOutcome> {
      const now = Date.now();
      const cached = refused.get(request.key);
      if (cached && cached.until > now) return cached.outcome;
      let outcome: VerifyOutcome;
      try {
        const response = await doFetch(endpoint, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json',
            ...(credential ? { authorization: `Bearer ${credential}` } : {}),
          },
          body: JSON.stringify(request),
          signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
        });
        if (!response.ok) throw new VerifierUnavailableError(`keyward verify answered ${response.status}`);
        // Read as the contract says, field by field: an answer that breaks it never lets a request through.
        outcome = fromWire(await response.json());
      } catch (error) {
        if (error instanceof VerifierUnavailableError) throw error;
        throw new VerifierUnavailableError(`keyward verify failed: ${(error as Error).message}`);
      }
      if (!outcome.valid && PERMANENT.has(outcome.code) && negativeMs > 0) {
        if (refused.size >= 10_000) refused.delete(refused.keys().next().value as string);
        refused.set(request.key, { outcome, until: now + negativeMs });
      }
      return outcome;
    },
  };
}
