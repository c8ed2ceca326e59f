import type { Selectable } from 'kysely';
import type { ApiKey, KeyAncestor, LeakReport } from '../../entities.js';
import { num, numOrNull, parseList, parseObject } from '../columns.js';
import type { Database } from '../schema.js';

export type KeyRow = Selectable<Database['api_keys']>;

export function keyFromRow(r: KeyRow): ApiKey {
  return {
    id: r.id,
    orgId: r.org_id,
    createdBy: r.created_by,
    name: r.name,
    environment: r.environment,
    scope: r.scope,
    tier: r.tier,
    hash: r.hash,
    prefix: r.prefix,
    last4: r.last4,
    createdAt: num(r.created_at),
    expiresAt: numOrNull(r.expires_at),
    revokedAt: numOrNull(r.revoked_at),
    lastUsedAt: numOrNull(r.last_used_at),
    ipAllowlist: parseList(r.ip_allowlist),
    metadata: parseObject(r.metadata),
    rotatedFrom: r.rotated_from,
    rotatedTo: r.rotated_to,
    lineageId: r.lineage_id ?? r.id,
    leak: r.leak ? (JSON.parse(r.leak) as LeakReport) : null,
    parentId: r.parent_id,
    depth: num(r.depth),
    agent: r.agent,
    budget: numOrNull(r.budget),
    requestsPerMinute: numOrNull(r.requests_per_minute),
    monthlyRequests: numOrNull(r.monthly_requests),
    resource: r.resource,
    importedFrom: r.imported_from,
    idleTimeoutSeconds: numOrNull(r.idle_timeout_seconds),
    scopeRequest: r.scope_request ? (JSON.parse(r.scope_request) as ApiKey['scopeRequest']) : null,
  };
}

/** A key as its row, without the columns only some keys have (ancestry, import reference). */
export function keyToRow(key: ApiKey): Omit<KeyRow, 'ancestry' | 'import_ref'> {
  return {
    id: key.id,
    org_id: key.orgId,
    created_by: key.createdBy,
    name: key.name,
    environment: key.environment,
    scope: key.scope,
    tier: key.tier,
    hash: key.hash,
    prefix: key.prefix,
    last4: key.last4,
    created_at: key.createdAt,
    expires_at: key.expiresAt,
    revoked_at: key.revokedAt,
    last_used_at: key.lastUsedAt,
    ip_allowlist: JSON.stringify(key.ipAllowlist),
    metadata: JSON.stringify(key.metadata),
    rotated_from: key.rotatedFrom,
    rotated_to: key.rotatedTo,
    lineage_id: key.lineageId,
    leak: key.leak ? JSON.stringify(key.leak) : null,
    parent_id: key.parentId,
    depth: key.depth,
    agent: key.agent,
    budget: key.budget,
    requests_per_minute: key.requestsPerMinute,
    monthly_requests: key.monthlyRequests,
    resource: key.resource,
    imported_from: key.importedFrom,
    idle_timeout_seconds: key.idleTimeoutSeconds,
    scope_request: key.scopeRequest ? JSON.stringify(key.scopeRequest) : null,
  };
}

/** The columns of a parent that its children keep in their ancestry. */
export const ANCESTRY_COLUMNS = [
  'id',
  'lineage_id',
  'budget',
  'requests_per_minute',
  'monthly_requests',
  'ip_allowlist',
  'ancestry',
] as const;

/** A child key's ancestry column: its parent's facts first, then the parent's own ancestry (see KeyAncestor). */
export function childAncestry(parent: Pick<KeyRow, (typeof ANCESTRY_COLUMNS)[number]>): string {
  const above: KeyAncestor[] = parent.ancestry === null ? [] : (JSON.parse(parent.ancestry) as KeyAncestor[]);
  const facts: KeyAncestor = {
    id: parent.id,
    lineageId: parent.lineage_id ?? parent.id,
    budget: numOrNull(parent.budget),
    requestsPerMinute: numOrNull(parent.requests_per_minute),
    monthlyRequests: numOrNull(parent.monthly_requests),
    ipAllowlist: parseList(parent.ip_allowlist),
  };
  return JSON.stringify([facts, ...above]);
}
