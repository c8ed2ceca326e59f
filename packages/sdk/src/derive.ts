import { explainingFetch, Secret } from '@keyward/core';
import { errorFromResponse } from './errors.js';
import { type RevokeOutcome, revokeOwnKey } from './revoke.js';

/** What a child key asks for. Everything is at most the parent key's; what is left out is inherited. */
export interface DeriveOptions {
  /** read, agentic, write or admin: at most the parent's (default: the parent's). */
  scope?: string;
  /** Lifetime in seconds (default: the server's `delegation.default_ttl_seconds`, never past the parent's expiry). */
  ttl?: number;
  /** Credits the child (and its own children) may spend. */
  budget?: number;
  /** The agent the child is for: its label in usage, audit and the request log. */
  agent?: string;
  name?: string;
  /** The API (base URL) the child is bound to. */
  resource?: string;
  requestsPerMinute?: number;
  monthlyRequests?: number;
  ipAllowlist?: string[];
  metadata?: Record<string, unknown>;
}

/** A child key: its value held as a `Secret` (printing it shows `[REDACTED]`), what the server says of it, and how to end it. */
export interface DerivedKey {
  key: Secret;
  id: string;
  scope: string;
  parentId: string;
  agent: string | null;
  budget: number | null;
  /** ISO date-time, or null when neither it nor its parent expires. */
  expiresAt: string | null;
  /** Revokes the child (and anything derived from it) with itself as credential. */
  revoke(): Promise<RevokeOutcome>;
}

interface DerivedBody {
  key: {
    id: string;
    raw_key: string;
    scope: string;
    parent_id: string;
    agent: string | null;
    budget: number | null;
    expires_at: string | null;
  };
}

/**
 * Derives a child key from `parentKey` at `server` (`POST /v1/keys/derive`): for a sub-agent, one task, one budget.
 * Throws a `KeywardApiError` (a 403 names the field asked above the parent's) when the server refuses.
 *
 * @example
 * ```ts
 * const child = await deriveKey('https://keys.example.com', parentKey, { scope: 'read', ttl: 600, agent: 'researcher' });
 * try { await runSubAgent(child.key.reveal()); } finally { await child.revoke(); }
 * ```
 */
export async function deriveKey(
  server: string,
  parentKey: string,
  options: DeriveOptions = {},
  doFetch: typeof fetch = explainingFetch(fetch, 'Is the keyward server running? Name it with --server or KEYWARD_SERVER.'),
): Promise<DerivedKey> {
  const body = {
    ...(options.scope !== undefined ? { scope: options.scope } : {}),
    ...(options.ttl !== undefined ? { ttl: options.ttl } : {}),
    ...(options.budget !== undefined ? { budget: options.budget } : {}),
    ...(options.agent !== undefined ? { agent: options.agent } : {}),
    ...(options.name !== undefined ? { name: options.name } : {}),
    ...(options.resource !== undefined ? { resource: options.resource } : {}),
    ...(options.requestsPerMinute !== undefined ? { requests_per_minute: options.requestsPerMinute } : {}),
    ...(options.monthlyRequests !== undefined ? { monthly_requests: options.monthlyRequests } : {}),
    ...(options.ipAllowlist !== undefined ? { ip_allowlist: options.ipAllowlist } : {}),
    ...(options.metadata !== undefined ? { metadata: options.metadata } : {}),
  };
  const res = await doFetch(new URL('/v1/keys/derive', server), {
    method: 'POST',
    headers: { authorization: `Bearer ${parentKey}`, 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw await errorFromResponse(res);
  const { key } = (await res.json()) as DerivedBody;
  const raw = new Secret(key.raw_key);
  return {
    key: raw,
    id: key.id,
    scope: key.scope,
    parentId: key.parent_id,
    agent: key.agent,
    budget: key.budget,
    expiresAt: key.expires_at,
    revoke: () => revokeOwnKey(server, key.id, raw.reveal(), doFetch),
  };
}
