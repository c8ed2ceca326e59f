import { type ErrorCode, isErrorCode } from '@keyward/core';

/** An error answer from a keyward-protected API, built from its envelope. */
export class KeywardApiError extends Error {
  override name = 'KeywardApiError';
  constructor(
    readonly status: number,
    readonly code: ErrorCode | string,
    message: string,
    readonly requestId?: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
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
  let body: { error?: { code?: string; message?: string; request_id?: string } | string; error_description?: string } = {};
  try {
    body = (await response.json()) as typeof body;
  } catch {}
  const envelope = typeof body.error === 'object' ? body.error : undefined;
  const code = envelope?.code ?? (typeof body.error === 'string' ? body.error : `http_${response.status}`);
  const message = envelope?.message ?? body.error_description ?? `${response.status} ${response.statusText}`;
  const retry = Number(response.headers.get('retry-after'));
  const args = [response.status, code, message, envelope?.request_id, Number.isFinite(retry) && retry > 0 ? retry : undefined] as const;
  if (response.status === 401) return new UnauthorizedError(...args);
  if (response.status === 403) return new ForbiddenError(...args);
  if (response.status === 429 || (isErrorCode(code) && (code === 'rate_limited' || code === 'quota_exceeded')))
    return new RateLimitedError(...args);
  return new KeywardApiError(...args);
}
