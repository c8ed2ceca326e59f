import { type KeyVerifier, KeywardError, VerifierUnavailableError, type VerifyOutcome } from '@keyward/core';
import { isStorageUnavailable, storageUnavailable } from '../outage.js';
import type { Verifier, VerifyResult } from './verifier.js';

/**
 * The middleware's verifier backed by a keyward running in the same process: no network hop, the same cache,
 * limits and usage counting as the server's own endpoints.
 *
 * @example
 * ```ts
 * const keyward = await createKeyward(loadConfig());
 * await app.register(keywardFastify, { verifier: inProcessVerifier(keyward), environment: 'live' });
 * ```
 */
export function inProcessVerifier(keyward: { ctx: { verifier: Verifier } }): KeyVerifier {
  const verifier = keyward.ctx.verifier;
  return {
    verify(request) {
      const result = verifier.verify(request);
      return result instanceof Promise ? result.then(outcomeOf, unavailable) : outcomeOf(result);
    },
  };
}

/**
 * A limiter that fails closed while Redis is down, or storage that cannot be reached for a key not in the cache:
 * the guard answers 503, as for an unreachable remote keyward. (Over HTTP the error handler makes the same 503.)
 */
function unavailable(error: unknown): never {
  if (error instanceof KeywardError && error.code === 'service_unavailable') throw new VerifierUnavailableError(error.message);
  if (isStorageUnavailable(error)) throw new VerifierUnavailableError(storageUnavailable().message);
  throw error;
}

/** The server's verify result in the contract's terms: what the verify endpoint sends and in-process callers get. */
export function outcomeOf(r: VerifyResult): VerifyOutcome {
  const rl = r.ratelimit ?? null;
  if (r.valid) {
    const k = r.key;
    return {
      valid: true,
      key: {
        id: k.id,
        name: k.name,
        environment: k.environment,
        scope: r.scope,
        organizationId: k.orgId,
        metadata: k.metadata,
        tier: k.tier,
        ownerId: k.createdBy,
        expiresAt: k.expiresAt,
        agent: k.agent,
        parentId: k.parentId,
      },
      ratelimit: rl,
      budget: r.budget,
    };
  }
  return {
    valid: false,
    code: r.code,
    message: r.message,
    reason: r.reason,
    ...(r.requiredScope ? { requiredScope: r.requiredScope, keyScope: r.keyScope } : {}),
    ...(r.key ? { keyId: r.key.id, environment: r.key.environment } : {}),
    ...(r.retryAfterSeconds !== undefined ? { retryAfterSeconds: r.retryAfterSeconds } : {}),
    ratelimit: rl,
    ...(r.budget !== undefined ? { budget: r.budget } : {}),
  };
}
