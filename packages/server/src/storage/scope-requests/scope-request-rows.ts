import type { Selectable } from 'kysely';
import type { ScopeRequest } from '../../entities.js';
import { num, numOrNull } from '../columns.js';
import type { Database } from '../schema.js';

type ScopeRequestRow = Selectable<Database['scope_requests']>;

export function scopeRequestFromRow(r: ScopeRequestRow): ScopeRequest {
  return {
    id: r.id,
    orgId: r.org_id,
    keyId: r.key_id,
    userId: r.user_id,
    environment: r.environment,
    agent: r.agent,
    currentScope: r.current_scope,
    scope: r.scope,
    reason: r.reason,
    resource: r.resource,
    requestedExpiry: numOrNull(r.requested_expiry),
    authReqHash: r.auth_req_hash,
    status: r.status,
    decidedBy: r.decided_by,
    decidedAt: numOrNull(r.decided_at),
    grantedScope: r.granted_scope,
    grantedExpiresAt: numOrNull(r.granted_expires_at),
    issuedKeyId: r.issued_key_id,
    pollInterval: num(r.poll_interval),
    lastPolledAt: numOrNull(r.last_polled_at),
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
  };
}

export function scopeRequestToRow(s: ScopeRequest): ScopeRequestRow {
  return {
    id: s.id,
    org_id: s.orgId,
    key_id: s.keyId,
    user_id: s.userId,
    environment: s.environment,
    agent: s.agent,
    current_scope: s.currentScope,
    scope: s.scope,
    reason: s.reason,
    resource: s.resource,
    requested_expiry: s.requestedExpiry,
    auth_req_hash: s.authReqHash,
    status: s.status,
    decided_by: s.decidedBy,
    decided_at: s.decidedAt,
    granted_scope: s.grantedScope,
    granted_expires_at: s.grantedExpiresAt,
    issued_key_id: s.issuedKeyId,
    poll_interval: s.pollInterval,
    last_polled_at: s.lastPolledAt,
    created_at: s.createdAt,
    expires_at: s.expiresAt,
  };
}
