import { VERIFY_CODES, type VerifyCode } from '@keyward/core';
import type { KeyVerifier, RateLimitInfo, VerifyOutcome, VerifyRequest } from './verifier.js';

export interface RemoteVerifierOptions {
  /** The keyward server, e.g. `https://keys.example.com`. */
  baseUrl: string;
  /** How long a key that is known to be unusable (unknown, revoked, expired) is refused without asking again. */
  negativeCacheMs?: number;
  /** Give up on the server after this long; the request then gets 503. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** Raised when the keyward server cannot be reached; the middleware answers 503 `service_unavailable`. */
export class VerifierUnavailableError extends Error {
  override name = 'VerifierUnavailableError';
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
  const refused = new Map<string, { outcome: VerifyOutcome; until: number }>();

  return {
    async verify(request: VerifyRequest): Promise<VerifyOutcome> {
      const now = Date.now();
      const cached = refused.get(request.key);
      if (cached && cached.until > now) return cached.outcome;
      let body: Record<string, unknown>;
      try {
        const response = await doFetch(endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify(request),
          signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
        });
        if (!response.ok) throw new VerifierUnavailableError(`keyward verify answered ${response.status}`);
        body = (await response.json()) as Record<string, unknown>;
      } catch (error) {
        if (error instanceof VerifierUnavailableError) throw error;
        throw new VerifierUnavailableError(`keyward verify failed: ${(error as Error).message}`);
      }
      const outcome = toOutcome(body);
      if (!outcome.valid && PERMANENT.has(outcome.code) && negativeMs > 0) {
        if (refused.size >= 10_000) refused.delete(refused.keys().next().value as string);
        refused.set(request.key, { outcome, until: now + negativeMs });
      }
      return outcome;
    },
  };
}

function toOutcome(b: Record<string, unknown>): VerifyOutcome {
  const rl = b.ratelimit as RateLimitInfo | null | undefined;
  if (b.valid === true) {
    return {
      valid: true,
      key: {
        id: String(b.key_id),
        name: String(b.name),
        environment: String(b.environment),
        scope: b.scope as VerifiedKey['scope'],
        organizationId: String(b.organization_id),
        metadata: (b.metadata as Record<string, unknown>) ?? {},
      },
      ratelimit: rl ?? null,
    };
  }
  const code = VERIFY_CODES.includes(b.code as VerifyCode) ? (b.code as VerifyCode) : 'NOT_FOUND';
  return {
    valid: false,
    code,
    message: typeof b.message === 'string' ? b.message : 'The API key is not valid.',
    ...(typeof b.retry_after === 'number' ? { retryAfterSeconds: b.retry_after } : {}),
    ratelimit: rl ?? null,
  };
}

type VerifiedKey = Extract<VerifyOutcome, { valid: true }>['key'];
