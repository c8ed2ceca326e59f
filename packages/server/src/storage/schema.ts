import type { Role, Scope } from '@keyward/core';

/** Table shapes. Times are epoch milliseconds (BIGINT), JSON is stored as text, so both dialects read the same. */
export interface Database {
  users: { id: string; email: string; name: string | null; password_hash: string; created_at: number };
  organizations: { id: string; name: string; plan: string; created_at: number };
  members: {
    id: string;
    org_id: string;
    user_id: string | null;
    email: string;
    role: Role;
    invite_token_hash: string | null;
    invite_expires_at: number | null;
    invited_by: string | null;
    created_at: number;
    joined_at: number | null;
  };
  sessions: { id: string; user_id: string; org_id: string; created_at: number; expires_at: number };
  api_keys: {
    id: string;
    org_id: string;
    created_by: string;
    name: string;
    environment: string;
    scope: Scope;
    tier: string;
    hash: string;
    prefix: string;
    last4: string;
    created_at: number;
    expires_at: number | null;
    revoked_at: number | null;
    last_used_at: number | null;
    ip_allowlist: string;
    metadata: string;
    rotated_from: string | null;
    rotated_to: string | null;
    lineage_id: string | null;
    leak: string | null;
    parent_id: string | null;
    depth: number;
    agent: string | null;
    budget: number | null;
    requests_per_minute: number | null;
    monthly_requests: number | null;
    resource: string | null;
    ancestry: string | null;
  };
  key_ancestors: { key_id: string; ancestor_id: string; distance: number };
  usage_daily: { key_id: string; day: string; allowed: number; denied: number; credits: number };
  request_log: {
    id: string;
    key_id: string;
    org_id: string;
    method: string;
    path: string;
    status: number;
    ip: string;
    at: number;
  };
  auth_grants: {
    id: string;
    kind: 'code' | 'device';
    code_hash: string;
    user_code: string | null;
    status: 'pending' | 'approved' | 'denied' | 'used';
    user_id: string | null;
    org_id: string | null;
    environment: string;
    name: string;
    scope: Scope | null;
    client_id: string | null;
    code_challenge: string | null;
    redirect_uri: string | null;
    poll_interval: number;
    last_polled_at: number | null;
    created_at: number;
    expires_at: number;
  };
  form_tokens: { id: string; session_id: string; location: string | null; secret: string | null; expires_at: number };
  webhooks: { id: string; org_id: string; url: string; events: string; secret: string; created_at: number };
  webhook_deliveries: {
    id: string;
    webhook_id: string;
    org_id: string;
    event_type: string;
    payload: string;
    status: string;
    attempts: string;
    next_attempt_at: number | null;
    created_at: number;
  };
  webhook_notices: { id: string; at: number };
  audit_events: {
    id: string;
    org_id: string;
    actor_type: string;
    actor_id: string;
    action: string;
    key_id: string | null;
    data: string;
    at: number;
  };
}
