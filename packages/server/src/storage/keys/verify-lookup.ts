import type { KeyAncestor, KeyForVerify } from '../../entities.js';
import { numOrNull, parseList, parseObject } from '../columns.js';
import type { Dialect } from '../database-handle.js';
import type { Database } from '../schema.js';
import type { KeyRow } from './key-rows.js';

/**
 * The verify look-up, shared with the SQLite fast path: only the columns a decision needs, with the creator's
 * current role and the organization's plan joined in. A key's place in a tree and its own caps come as one column,
 * `tree`, null for the plain keys most are: every column read is time on the hot path (seven separate ones made
 * SQLite's look-up a fifth slower).
 */
export const VERIFY_SQL = `SELECT k.id, k.org_id, k.created_by, k.name, k.environment, k.scope, k.tier, k.prefix, k.expires_at,
  k.revoked_at, k.ip_allowlist, k.metadata, k.lineage_id, m.role AS creator_role, o.plan AS org_plan, o.name AS org_name,
  CASE WHEN k.parent_id IS NULL AND k.agent IS NULL AND k.budget IS NULL AND k.requests_per_minute IS NULL
    AND k.monthly_requests IS NULL AND k.resource IS NULL AND k.idle_timeout_seconds IS NULL THEN NULL
  ELSE json_array(k.parent_id, k.agent, k.budget, k.requests_per_minute, k.monthly_requests, k.resource, k.ancestry,
    k.idle_timeout_seconds, COALESCE(k.last_used_at, k.created_at)) END AS tree
  FROM api_keys k
  JOIN organizations o ON o.id = k.org_id
  LEFT JOIN members m ON m.org_id = k.org_id AND m.user_id = k.created_by
  WHERE k.hash = `;

/** The verify look-up in a dialect: its JSON array function is SQLite's `json_array`, PostgreSQL's `json_build_array`. */
export function verifySql(dialect: Dialect): string {
  return dialect === 'sqlite' ? VERIFY_SQL : VERIFY_SQL.replace('json_array(', 'json_build_array(');
}

/** A row of {@link VERIFY_SQL}: the key's own columns it selects, and what it joins in. */
export interface VerifyRow
  extends Pick<
    KeyRow,
    | 'id'
    | 'org_id'
    | 'created_by'
    | 'name'
    | 'environment'
    | 'scope'
    | 'tier'
    | 'prefix'
    | 'expires_at'
    | 'revoked_at'
    | 'ip_allowlist'
    | 'metadata'
    | 'lineage_id'
  > {
  creator_role: Database['members']['role'] | null;
  org_plan: Database['organizations']['plan'];
  org_name: Database['organizations']['name'];
  /**
   * `[parent_id, agent, budget, requests_per_minute, monthly_requests, resource, ancestry, idle_timeout_seconds,
   * last use or creation]`, as JSON (text or parsed).
   */
  tree: string | unknown[] | null;
}

type TreeColumns = [
  string | null,
  string | null,
  number | null,
  number | null,
  number | null,
  string | null,
  string | null,
  number | null,
  number | null,
];
const PLAIN: TreeColumns = [null, null, null, null, null, null, null, null, null];

export function keyForVerifyFromRow(r: VerifyRow): KeyForVerify {
  const [parentId, agent, budget, requestsPerMinute, monthlyRequests, resource, ancestry, idle, lastUsedAt] =
    r.tree === null ? PLAIN : ((typeof r.tree === 'string' ? JSON.parse(r.tree) : r.tree) as TreeColumns);
  return {
    id: r.id,
    orgId: r.org_id,
    createdBy: r.created_by,
    name: r.name,
    environment: r.environment,
    scope: r.scope,
    tier: r.tier,
    prefix: r.prefix,
    expiresAt: numOrNull(r.expires_at),
    revokedAt: numOrNull(r.revoked_at),
    ipAllowlist: parseList(r.ip_allowlist),
    metadata: parseObject(r.metadata),
    lineageId: r.lineage_id ?? r.id,
    parentId,
    agent,
    budget: numOrNull(budget),
    requestsPerMinute: numOrNull(requestsPerMinute),
    monthlyRequests: numOrNull(monthlyRequests),
    resource,
    idleTimeoutSeconds: numOrNull(idle),
    lastUsedAt: idle === null ? null : numOrNull(lastUsedAt),
    creatorRole: r.creator_role,
    orgPlan: r.org_plan,
    orgName: r.org_name,
    ancestors: ancestry === null ? [] : (JSON.parse(ancestry) as KeyAncestor[]),
  };
}
