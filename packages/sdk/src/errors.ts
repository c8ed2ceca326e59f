import { type ErrorCode, explainError, isErrorCode } from '@keyward/core';

/** What an envelope says beyond its code and message (`reason`, `required_scope`, `key_scope`, …). */
export type ErrorDetails = Record<string, string>;

/**
 * An error answer from a keyward-protected API, built from its envelope. `message` is the server's, followed by
 * the scope needed and held when the envelope names them; `details` keeps every extra field as sent.
 */
export class KeywardApiError extends Error {
  override name = 'KeywardApiError';
  constructor(
    readonly status: number,
    readonly code: ErrorCode | string,
    message: string,
    readonly requestId?: string,
    readonly retryAfterSeconds?: number,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
  }

  /** Why, in one word, when the server said (`missing`, `malformed`, `bad_checksum`, `unknown`, `revoked`, …). */
  get reason(): string | undefined {
    return this.details.reason;
  }
}

export class UnauthorizedError extends KeywardApiError {
  override name = 'UnauthorizedError';
}
export class ForbiddenError extends KeywardApiError {
  override name = 'ForbiddenError';
}
export class RateLimitedError extends KeywardApiError {
  override name = 'RateLimitedError';
}

export async function errorFromResponse(response: Response): Promise<KeywardApiError> {
  let body: {
    error?: ({ code?: string; message?: string; request_id?: string } & Record<string, unknown>) | string;
    error_description?: string;
  } = {};
  try {
    body = (await response.json()) as typeof body;
  } catch {}
  const envelope = typeof body.error === 'object' ? body.error : undefined;
  const code = envelope?.code ?? (typeof body.error === 'string' ? body.error : `http_${response.status}`);
  const message =
    typeof envelope?.message === 'string'
      ? explainError({ ...envelope, message: envelope.message })
      : (body.error_description ?? `${response.status} ${response.statusText}`);
  const details: ErrorDetails = {};
  for (const [field, value] of Object.entries(envelope ?? {})) {
    if (typeof value === 'string' && !['code', 'message', 'request_id'].includes(field)) details[field] = value;
  }
  const retry = Number(response.headers.get('retry-after'));
  const args = [
    response.status,
    code,
    message,
    envelope?.request_id,
    Number.isFinite(retry) && retry > 0 ? retry : undefined,
    details,
  ] as const;
  if (response.status === 401) return new UnauthorizedError(...args);
  if (response.status === 403) return new ForbiddenError(...args);
  if (response.status === 429 || (isErrorCode(code) && (code === 'rate_limited' || code === 'quota_exceeded')))
    return new RateLimitedError(...args);
  return new KeywardApiError(...args);
}
