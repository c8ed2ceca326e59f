import { explainingFetch, Secret } from '@keyward/core';
import { serverMetadata } from './server-metadata.js';

const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';

/** What an agent asks a person for: a wider scope, and why (shown to the approver, at most 200 characters). */
export interface RequestScopeOptions {
  /** read, agentic, write or admin: above the key's own. */
  scope: string;
  /** Why the agent needs it, in words a person decides on. */
  reason: string;
  /** The API (RFC 8707 resource) the new key is for. */
  resource?: string;
  /** The lifetime asked for the new key, in seconds (the approver may shorten it). */
  requestedExpiry?: number;
  /** How long to wait for the decision at most (default: as long as the request lives). */
  timeoutMs?: number;
  /** Called once the request is made, with how long it waits: the moment to tell the person where to approve. */
  onPending?: (info: { expiresIn: number; approveAt: string }) => void;
  signal?: AbortSignal;
}

/** The key a person approved: a new key (the one the agent asked with keeps working as it was). */
export interface ScopeGrant {
  key: Secret;
  id: string;
  scope: string;
  environment: string;
  display: string;
  /** ISO date-time, or null. */
  expiresAt: string | null;
  /** Who approved the request. */
  approvedBy: { id: string; email: string; name: string | null } | null;
}

/** A scope request that ended without a key: denied by a person, or expired before anyone decided. */
export class ScopeRequestError extends Error {
  override name = 'ScopeRequestError';
  constructor(
    readonly outcome: 'denied' | 'expired' | 'timeout' | 'refused',
    message: string,
  ) {
    super(message);
  }
}

interface OAuthAnswer {
  error?: string;
  error_description?: string;
  auth_req_id?: string;
  expires_in?: number;
  interval?: number;
  access_token?: string;
  scope?: string;
  key?: { id: string; environment: string; display: string; expires_at: string | null };
  approved_by?: { id: string; email: string; name: string | null };
}

/**
 * Asks a person for a wider scope (OpenID CIBA, poll mode) with the key the agent holds, and waits for the
 * decision: approved, it returns the new key (made by the approver, for the same agent and environment); denied or
 * expired, it throws a `ScopeRequestError`.
 *
 * @example
 * ```ts
 * const grant = await requestScope('https://keys.example.com', readKey, { scope: 'write', reason: 'save the report' });
 * console.log(`approved by ${grant.approvedBy?.email}: ${grant.display} (${grant.scope})`);
 * ```
 */
export async function requestScope(
  server: string,
  key: string,
  o: RequestScopeOptions,
  doFetch: typeof fetch = explainingFetch(fetch, 'Is the keyward server running? Name it with --server or KEYWARD_SERVER.'),
): Promise<ScopeGrant> {
  const meta = await serverMetadata(server, doFetch).catch(() => null);
  const ask = meta?.backchannelEndpoint ?? new URL('/api/oauth/bc-authorize', server).href;
  const tokenUrl = meta?.tokenEndpoint ?? new URL('/api/cli/token', server).href;
  const post = async (url: string, form: Record<string, string>) => {
    const res = await doFetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams(form),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    return { status: res.status, body: ((await res.json().catch(() => ({}))) ?? {}) as OAuthAnswer };
  };
  const asked = await post(ask, {
    scope: o.scope,
    binding_message: o.reason,
    ...(o.resource ? { resource: o.resource } : {}),
    ...(o.requestedExpiry ? { requested_expiry: String(o.requestedExpiry) } : {}),
  });
  if (asked.status !== 200 || !asked.body.auth_req_id) {
    const why = asked.body.error_description ?? asked.body.error ?? `HTTP ${asked.status}`;
    throw new ScopeRequestError('refused', `the server refused the scope request: ${why}`);
  }
  const id = asked.body.auth_req_id;
  let interval = Math.max(1, asked.body.interval ?? 5);
  const expiresIn = asked.body.expires_in ?? 600;
  o.onPending?.({ expiresIn, approveAt: new URL('/dashboard/requests', server).href });
  const deadline = Date.now() + Math.min(o.timeoutMs ?? Number.POSITIVE_INFINITY, expiresIn * 1000 + interval * 1000);
  for (;;) {
    await sleep(interval * 1000, o.signal);
    if (Date.now() > deadline) throw new ScopeRequestError('timeout', 'gave up waiting for a decision on the scope request');
    const { status, body } = await post(tokenUrl, { grant_type: CIBA_GRANT, auth_req_id: id });
    if (status === 200 && body.access_token && body.key) {
      return {
        key: new Secret(body.access_token),
        id: body.key.id,
        scope: body.scope ?? o.scope,
        environment: body.key.environment,
        display: body.key.display,
        expiresAt: body.key.expires_at,
        approvedBy: body.approved_by ?? null,
      };
    }
    if (body.error === 'authorization_pending') continue;
    if (body.error === 'slow_down') {
      interval += 5;
      continue;
    }
    if (body.error === 'access_denied') throw new ScopeRequestError('denied', 'the scope request was denied');
    if (body.error === 'expired_token') throw new ScopeRequestError('expired', 'the scope request expired before anyone decided it');
    throw new ScopeRequestError('refused', `the scope request failed: ${body.error_description ?? body.error ?? `HTTP ${status}`}`);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((ok, fail) => {
    const t = setTimeout(ok, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      fail(signal.reason);
    });
  });
}
