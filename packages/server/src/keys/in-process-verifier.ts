import { KeywardError } from '@keyward/core';
import { type KeyVerifier, VerifierUnavailableError, type VerifyOutcome } from '@keyward/middleware';
import type { Keyward } from '../compose.js';
import type { VerifyResult } from './verifier.js';

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
export function inProcessVerifier(keyward: Pick<Keyward, 'ctx'>): KeyVerifier {
  const verifier = keyward.ctx.verifier;
  return {
    verify(request) {
      const result = verifier.verify(request);
      return result instanceof Promise ? result.then(toOutcome, unavailable) : toOutcome(result);
    },
  };
}

/** A limiter that fails closed while Redis is down: the guard answers 503, as for an unreachable remote keyward. */
function unavailable(error: unknown): never {
  if (error instanceof KeywardError && error.code === 'service_unavailable') throw new VerifierUnavailableError(error.message);
  throw error;
}

function toOutcome(r: VerifyResult): VerifyOutcome {
  const rl = r.ratelimit ?? null;
  if (r.valid) {
    const k = r.key;
    return {
      valid: true,
      key: { id: k.id, name: k.name, environment: k.environment, scope: r.scope, organizationId: k.orgId, metadata: k.metadata },
      ratelimit: rl,
    };
  }
  return {
    valid: false,
    code: r.code,
    message: r.message,
    ...(r.retryAfterSeconds !== undefined ? { retryAfterSeconds: r.retryAfterSeconds } : {}),
    ratelimit: rl,
  };
}
