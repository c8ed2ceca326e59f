import { type KeyVerifier, KeywardError, VerifierUnavailableError, type VerifyOutcome } from '@keyward/core';
import { isStorageUnavailable, STORAGE_AWAY } from '../outage.js';
import type { CheckedKey } from './key-cache.js';
import type { Verifier } from './verifier.js';

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
  if (isStorageUnavailable(error)) throw new VerifierUnavailableError(STORAGE_AWAY.message);
  throw error;
}

/**
 * The verifier's answer as the contract's `VerifyOutcome`: what the verify endpoint sends and in-process callers get.
 * A refusal is already in the contract's terms; a valid answer's stored record becomes the contract's key.
 */
export function outcomeOf(r: VerifyOutcome<CheckedKey>): VerifyOutcome {
  // The wire has always said `ratelimit: null` for a refusal that counted nothing.
  if (!r.valid) return r.ratelimit === undefined ? { ...r, ratelimit: null } : r;
  const k = r.key.record;
  return {
    valid: true,
    key: {
      id: k.id,
      name: k.name,
      environment: k.environment,
      scope: r.key.scope,
      organizationId: k.orgId,
      metadata: k.metadata,
      tier: k.tier,
      ownerId: k.createdBy,
      expiresAt: k.expiresAt,
      agent: k.agent,
      parentId: k.parentId,
    },
    ratelimit: r.ratelimit,
    budget: r.budget,
    cache: r.cache,
  };
}
