import type { Role, Scope } from '@keyward/core';
import type { Plan } from './config/config.js';

/**
 * What keyward keeps: the records services work with. Storage reads and writes them; HTTP shows them. Neither
 * layer owns them, so both import them from here.
 */

export interface User {
  id: string;
  email: string;
  name: string | null;
  passwordHash: string;
  createdAt: number;
}

export interface Organization {
  id: string;
  name: string;
  plan: string;
  createdAt: number;
}

export interface Member {
  id: string;
  orgId: string;
  userId: string | null;
  email: string;
  role: Role;
  inviteTokenHash: string | null;
  inviteExpiresAt: number | null;
  invitedBy: string | null;
  createdAt: number;
  joinedAt: number | null;
}

export interface Session {
  id: string;
  userId: string;
  orgId: string;
  createdAt: number;
  expiresAt: number;
}

export interface ApiKey {
  id: string;
  orgId: string;
  createdBy: string;
  name: string;
  environment: string;
  scope: Scope;
  tier: string;
  hash: string;
  prefix: string;
  last4: string;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  lastUsedAt: number | null;
  ipAllowlist: string[];
  metadata: Record<string, unknown>;
  rotatedFrom: string | null;
  rotatedTo: string | null;
  /**
   * The first key of its rotation chain: a key and its rotated successors form one lineage, which shares one
   * monthly quota and holds at most one key in grace.
   */
  lineageId: string;
  /** The last report that it was found in public, or null. */
  leak: LeakReport | null;
  /** The key it was derived from (`POST /v1/keys/derive`), or null for a key made by a person. */
  parentId: string | null;
  /** 0 for a key made by a person, 1 for its child, and so on (at most `delegation.max_depth`). */
  depth: number;
  /** The agent the key was issued to: a label from sign-in's client, the derive call or the dashboard. */
  agent: string | null;
  /** Credits the key and its descendants may spend in all (a request costs 1 unless told otherwise); null = none. */
  budget: number | null;
  /** The key's own caps under its plan (a child's are at most its parent's); null = the plan's. */
  requestsPerMinute: number | null;
  monthlyRequests: number | null;
  /** The API (base URL) the key is bound to, or null for any. */
  resource: string | null;
  /** The product the key was imported from (`unkey`, `better-auth`, `csv`), or null for a key keyward made. */
  importedFrom: string | null;
  /** Seconds of disuse after which the key ends for good (`idle_expired`), or null for none. */
  idleTimeoutSeconds: number | null;
  /** For a key issued for a scope request: the request, the key that asked, who approved it and why; else null. */
  scopeRequest: { id: string; requestingKeyId: string; approvedBy: string; approverEmail: string; reason: string } | null;
}

/**
 * What the verify path needs of each of a key's ancestors: the limits a child's requests also count towards, and
 * the IP allowlist a child is held by (every ancestor's, not only its own). They never change, so they are kept on
 * the child's own row; whether an ancestor still works needs no look-up, as revoking or ending a key writes it down
 * its whole subtree. (A tree shares one tier: the child's is its parent's.)
 */
export type KeyAncestor = Pick<ApiKey, 'id' | 'lineageId' | 'budget' | 'requestsPerMinute' | 'monthlyRequests' | 'ipAllowlist'>;

/**
 * What deciding on a key needs: its settings, its creator's current role (null when they left) and the
 * organization's plan. Book-keeping fields (hash, times of use, succession) are left out of the hot look-up.
 */
export interface KeyForVerify
  extends Pick<
    ApiKey,
    | 'id'
    | 'orgId'
    | 'createdBy'
    | 'name'
    | 'environment'
    | 'scope'
    | 'tier'
    | 'prefix'
    | 'expiresAt'
    | 'revokedAt'
    | 'ipAllowlist'
    | 'metadata'
    | 'lineageId'
    | 'parentId'
    | 'agent'
    | 'budget'
    | 'requestsPerMinute'
    | 'monthlyRequests'
    | 'resource'
    | 'idleTimeoutSeconds'
  > {
  /** For a key with an idle timeout: when it was last used as storage knows (else when it was made); null otherwise. */
  lastUsedAt: number | null;
  creatorRole: Role | null;
  orgPlan: string;
  orgName: string;
  /** Parent first, root last; empty for a key made by a person. */
  ancestors: KeyAncestor[];
}

/**
 * A key a request passed with, as the server's routes and services see it: its stored record and its effective
 * scope (its own, capped by its creator's current role). What a valid verify answer carries, and what derives a child.
 */
export interface CheckedKey {
  record: KeyForVerify;
  scope: Scope;
  /** Its plan, capped by its own limits: worked out once per look-up, for the answers that show it (`whoami`). */
  plan: Plan;
}

export interface DailyUsage {
  keyId: string;
  day: string;
  allowed: number;
  denied: number;
  /** Credits spent by the allowed requests (their cost). */
  credits: number;
}

export interface RequestLogEntry {
  id: string;
  keyId: string;
  orgId: string;
  method: string;
  path: string;
  status: number;
  ip: string;
  at: number;
}

export interface AuditEvent {
  id: string;
  orgId: string;
  actorType: 'user' | 'key' | 'system';
  actorId: string;
  action: string;
  keyId: string | null;
  data: Record<string, unknown>;
  at: number;
}

/** A report that a key was found in public: where, by whom, when. */
export interface LeakReport {
  url: string | null;
  /** Who reported it: `github` (secret scanning) or `report` (`POST /v1/keys/report-leak`). */
  reporter: string;
  /** What the reporter says it was found in (GitHub's `source`: content, commit, issue…). */
  source: string | null;
  at: number;
}

/** Where an organization's events are sent (Standard Webhooks), with its signing secret sealed at rest. */
export interface Webhook {
  id: string;
  orgId: string;
  url: string;
  /** The event types it receives; empty means all. */
  events: string[];
  /** The `whsec_` secret, sealed (AES-256-GCM under a key derived from the server secret). */
  sealedSecret: string;
  createdAt: number;
}

/** One try of a delivery: when, the HTTP status (null: no answer) and what went wrong. */
export interface DeliveryAttempt {
  at: number;
  status: number | null;
  error: string | null;
  ms: number;
}

/** An event on its way to one webhook: stored, so that it survives a restart, and tried until it is answered 2xx. */
export interface WebhookDelivery {
  /** `msg_…`: the `webhook-id` header, the same on every try. */
  id: string;
  webhookId: string;
  orgId: string;
  eventType: string;
  /** The JSON body, as signed. */
  payload: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: DeliveryAttempt[];
  nextAttemptAt: number | null;
  createdAt: number;
}

/**
 * A sign-in in progress: an authorization code (loopback flow) or a device code (device flow). Only hashes of the
 * codes are stored; the key itself is minted when the code is exchanged, so no raw key waits anywhere.
 */
export interface AuthGrant {
  id: string;
  kind: 'code' | 'device';
  codeHash: string;
  userCode: string | null;
  status: 'pending' | 'approved' | 'denied' | 'used';
  userId: string | null;
  orgId: string | null;
  environment: string;
  name: string;
  scope: Scope | null;
  clientId: string | null;
  codeChallenge: string | null;
  redirectUri: string | null;
  pollInterval: number;
  lastPolledAt: number | null;
  createdAt: number;
  expiresAt: number;
  /** The API the key is for (RFC 8707 `resource`), bound to the key it becomes; null for any. */
  resource: string | null;
  /** Whether the client asked for `offline_access`: a short-lived key and a refresh token. */
  offline: boolean;
}

/**
 * An agent's request for a wider scope (OpenID CIBA, poll mode): made with a working key, decided by a person on the
 * Requests page. Only a hash of `auth_req_id` is stored; the new key is minted when the agent polls after the
 * approval, as the approver, so no raw key waits anywhere. `delivered` is the end of an approved request.
 */
export interface ScopeRequest {
  id: string;
  orgId: string;
  /** The key that asked, and the person it acts for (its creator). */
  keyId: string;
  userId: string;
  environment: string;
  agent: string | null;
  /** The requesting key's scope when it asked, and the scope it asked for. */
  currentScope: Scope;
  scope: Scope;
  /** The agent's reason (`binding_message`), shown to the approver. */
  reason: string;
  resource: string | null;
  /** The lifetime the agent asked for the new key (`requested_expiry`, seconds), or null. */
  requestedExpiry: number | null;
  authReqHash: string;
  status: 'pending' | 'approved' | 'denied' | 'delivered';
  /** Who decided, the scope and expiry they granted (at most what was asked), and the key it became. */
  decidedBy: string | null;
  decidedAt: number | null;
  grantedScope: Scope | null;
  grantedExpiresAt: number | null;
  issuedKeyId: string | null;
  pollInterval: number;
  lastPolledAt: number | null;
  createdAt: number;
  expiresAt: number;
}

/** An OAuth client registered by itself (RFC 7591): public (no secret), with the redirect URIs it may use. */
export interface OAuthClient {
  clientId: string;
  name: string;
  redirectUris: string[];
  grantTypes: string[];
  createdAt: number;
  /** The address it registered from. */
  createdIp: string;
  revokedAt: number | null;
}

/**
 * A refresh token (only its hash): single-use. Each use mints a new access key and the next token of the same
 * family; a token used twice revokes the family and its keys (a stolen token was used).
 */
export interface RefreshToken {
  id: string;
  familyId: string;
  tokenHash: string;
  clientId: string | null;
  userId: string;
  orgId: string;
  environment: string;
  name: string;
  scope: Scope | null;
  resource: string | null;
  /** The access key minted with this token (revoked when the next one is minted, or with the family). */
  keyId: string;
  status: 'active' | 'used' | 'revoked';
  createdAt: number;
  expiresAt: number;
}

/** One flush of the usage recorder: counters to add, last-used times, request log lines. */
export interface UsageBatch {
  daily: DailyUsage[];
  lastUsed: { keyId: string; at: number }[];
  requests: RequestLogEntry[];
}
