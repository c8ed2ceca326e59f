import { explainingFetch } from '@keyward/core';
import { type DerivedKey, type DeriveOptions, deriveKey } from './derive.js';
import { errorFromResponse, KeywardApiError } from './errors.js';
import { type FindKeyOptions, findKey } from './find-key.js';
import { Profiles } from './profiles.js';
import { keywardProvider } from './providers.js';
import { type RequestScopeOptions, requestScope, type ScopeGrant } from './request-scope.js';

export interface ClientOptions extends FindKeyOptions {
  /** The API's base URL. Default: picked from the key's prefix in `baseUrls`, else the keyward server. */
  baseUrl?: string;
  /** Base URL per key prefix, e.g. `{ 'nv_test_': 'https://api.nuvion.dev', 'nv_live_': 'https://api.nuvion.co' }`. */
  baseUrls?: Record<string, string>;
  /** Retries of 429 and 503 answers (honouring Retry-After) and network errors. Default 3. */
  maxRetries?: number;
  fetch?: typeof fetch;
}

export interface KeywardClient {
  readonly baseUrl: string;
  /** The keyward server the key comes from (where `derive` asks). */
  readonly server: string;
  /**
   * A child key of this client's key, for a sub-agent or one task: scope, lifetime, budget and limits at most this
   * key's, revoked with it. `revoke()` it when the task is done.
   */
  derive(options?: DeriveOptions): Promise<DerivedKey>;
  /**
   * Asks a person for a wider scope with this client's key and waits for the decision: the new key when approved
   * (this client goes on with its own key), a `ScopeRequestError` when denied or expired.
   */
  requestScope(options: RequestScopeOptions): Promise<ScopeGrant>;
  request<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  get<T = unknown>(path: string): Promise<T>;
  post<T = unknown>(path: string, body?: unknown): Promise<T>;
}

/**
 * A client for a keyward-protected API: finds the key (option → environment variable → secret store), picks the
 * base URL from the key's environment, sends it as Bearer, retries 429/503 with backoff that honours Retry-After,
 * and throws typed errors (`UnauthorizedError`, `ForbiddenError`, `RateLimitedError`) built from the envelope.
 *
 * @example
 * ```ts
 * const nuvion = await createClient({ baseUrls: { nv_test_: 'https://api.nuvion.dev', nv_live_: 'https://api.nuvion.co' } });
 * const accounts = await nuvion.get('/accounts');
 * ```
 */
export async function createClient(o: ClientOptions = {}): Promise<KeywardClient> {
  const found = await findKey(o);
  if (!found) {
    throw new KeywardApiError(401, 'unauthorized', 'No API key: pass apiKey, set KEYWARD_API_KEY, or run `keyward login`.');
  }
  const key = found.key;
  const byPrefix = Object.entries(o.baseUrls ?? {})
    .sort((a, b) => b[0].length - a[0].length)
    .find(([prefix]) => key.startsWith(prefix));
  const baseUrl = o.baseUrl ?? byPrefix?.[1] ?? o.server ?? 'http://127.0.0.1:8787';
  const doFetch = explainingFetch(o.fetch ?? fetch);
  const maxRetries = o.maxRetries ?? 3;

  async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      try {
        response = await doFetch(new URL(path, baseUrl), {
          method,
          headers: {
            authorization: `Bearer ${key}`,
            accept: 'application/json',
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      } catch (error) {
        if (attempt >= maxRetries) throw error;
        await sleep(backoff(attempt));
        continue;
      }
      if (response.ok) {
        const text = await response.text();
        return (text ? JSON.parse(text) : undefined) as T;
      }
      const retryable = response.status === 429 || response.status === 503;
      const error = await errorFromResponse(response);
      // A spent monthly quota does not come back by retrying.
      if (!retryable || error.code === 'quota_exceeded' || attempt >= maxRetries) throw error;
      await sleep(error.retryAfterSeconds !== undefined ? error.retryAfterSeconds * 1000 : backoff(attempt));
    }
  }

  const provider = o.provider ?? keywardProvider;
  const server = o.server ?? (o.profiles ?? new Profiles()).lastServer(provider.name) ?? provider.defaultServer;
  return {
    baseUrl,
    server,
    derive: (options) => deriveKey(server, key, options, doFetch),
    requestScope: (options) => requestScope(server, key, options, doFetch),
    request,
    get: (path) => request('GET', path),
    post: (path, body) => request('POST', path, body),
  };
}

/** Exponential backoff with full jitter: 0.5 s, 1 s, 2 s … at most 30 s. */
function backoff(attempt: number): number {
  return Math.random() * Math.min(30_000, 500 * 2 ** attempt);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
