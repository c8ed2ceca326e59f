/** Every error keyward answers with, and the HTTP status it maps to. The SDK imports this same table. */
export const ERROR_STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  uri_too_long: 414,
  unsupported_media_type: 415,
  rate_limited: 429,
  quota_exceeded: 429,
  budget_exhausted: 402,
  internal: 500,
  service_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export const DEFAULT_MESSAGES: Record<ErrorCode, string> = {
  invalid_request: 'The request is malformed.',
  unauthorized: 'No valid API key provided.',
  forbidden: 'Your API key does not have permission to perform this action.',
  not_found: 'Not found.',
  method_not_allowed: 'Method not allowed.',
  conflict: 'The request conflicts with the current state.',
  payload_too_large: 'The request body is too large.',
  uri_too_long: 'The request URI is too long.',
  unsupported_media_type: 'The request body must be application/json.',
  rate_limited: 'Rate limit exceeded. Retry after the time in the Retry-After header.',
  quota_exceeded: 'Monthly request quota exceeded. Retry after the time in the Retry-After header.',
  budget_exhausted: "This API key's credit budget is spent.",
  internal: 'Something went wrong on our side.',
  service_unavailable: 'The service is temporarily unavailable.',
};

/**
 * The words of a refusal to a request made with an API key: a 401 or 403 always says Nuvion's message ("No valid API
 * key provided.", "Your API key does not have permission to perform this action."); what the refusal would have said
 * (why, and what to do) becomes its `hint`. Other errors keep their words. The one rule for the server's envelope, the
 * middleware and the verify failures alike.
 */
export function refusalWords(code: ErrorCode, said: string): { message: string; hint?: string } {
  if (code !== 'unauthorized' && code !== 'forbidden') return { message: said };
  const message = DEFAULT_MESSAGES[code];
  return said === message ? { message } : { message, hint: said };
}

/** {@link refusalWords} applied to an error: Nuvion's message, the original words in `hint` (unless it has one). */
export function keyRefusal(error: KeywardError): KeywardError {
  const words = refusalWords(error.code, error.message);
  if (words.hint === undefined) return error;
  return new KeywardError(error.code, words.message, error.headers, { hint: words.hint, ...error.details });
}

/** Extra fields of the envelope that say what a person needs (`reason`, `required_scope`, `key_scope`, …). */
export type ErrorDetails = Record<string, string>;

/**
 * What a key's own text shows is wrong with it, in words: said by the verify endpoint as a refusal's message, and by
 * a CLI or SDK reading a 401's `reason` (the envelope's message stays the standard one).
 */
export const KEY_TEXT_WORDS = {
  malformed: 'This is not an API key of this server: its form or prefix is wrong.',
  bad_checksum: "The API key's checksum does not match: it was mistyped or cut short. Copy it again.",
} as const;

/**
 * An error envelope's message with what its extra fields add, for a person reading it in a terminal:
 * "Your API key does not have permission to perform this action. (needs write scope; this key has read)".
 */
export function explainError(error: {
  message: string;
  required_scope?: unknown;
  key_scope?: unknown;
  allowed_scope?: unknown;
  hint?: unknown;
  reason?: unknown;
}): string {
  const { required_scope: needed, key_scope: held, allowed_scope: allowed, reason } = error;
  // A refused key's message is always the standard one; what to do is in `hint` (or, for a key whose text is wrong,
  // its `reason`), and a person reading a terminal needs both.
  const hint = error.hint ?? (reason === 'malformed' || reason === 'bad_checksum' ? KEY_TEXT_WORDS[reason] : undefined);
  const message = typeof hint === 'string' && !error.message.includes(hint) ? `${error.message} ${hint}` : error.message;
  if (typeof needed === 'string' && typeof held === 'string') return `${message} (needs ${needed} scope; this key has ${held})`;
  if (typeof allowed === 'string' && !message.includes(allowed)) return `${message} (at most ${allowed} scope)`;
  return message;
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; request_id?: string } & ErrorDetails;
}

/** The one error type: a code from the catalogue, a message for people, optional response headers. */
export class KeywardError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message?: string, headers: Record<string, string> = {}, details: ErrorDetails = {}) {
    super(message ?? DEFAULT_MESSAGES[code]);
    this.name = 'KeywardError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.headers = headers;
    this.details = details;
  }

  toBody(requestId?: string): ErrorBody {
    return { error: { ...this.details, code: this.code, message: this.message, ...(requestId ? { request_id: requestId } : {}) } };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_STATUS, value);
}
