import type { Selectable } from 'kysely';
import type { AuthGrant, OAuthClient, RefreshToken } from '../../entities.js';
import { num, numOrNull } from '../columns.js';
import type { Database } from '../schema.js';

type GrantRow = Selectable<Database['auth_grants']>;
type ClientRow = Selectable<Database['oauth_clients']>;
type RefreshTokenRow = Selectable<Database['refresh_tokens']>;

export function grantFromRow(r: GrantRow): AuthGrant {
  return {
    id: r.id,
    kind: r.kind,
    codeHash: r.code_hash,
    userCode: r.user_code,
    status: r.status,
    userId: r.user_id,
    orgId: r.org_id,
    environment: r.environment,
    name: r.name,
    scope: r.scope,
    clientId: r.client_id,
    codeChallenge: r.code_challenge,
    redirectUri: r.redirect_uri,
    pollInterval: num(r.poll_interval),
    lastPolledAt: numOrNull(r.last_polled_at),
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
    resource: r.resource,
    offline: num(r.offline) === 1,
  };
}

export function grantToRow(g: AuthGrant): GrantRow {
  return {
    id: g.id,
    kind: g.kind,
    code_hash: g.codeHash,
    user_code: g.userCode,
    status: g.status,
    user_id: g.userId,
    org_id: g.orgId,
    environment: g.environment,
    name: g.name,
    scope: g.scope,
    client_id: g.clientId,
    code_challenge: g.codeChallenge,
    redirect_uri: g.redirectUri,
    poll_interval: g.pollInterval,
    last_polled_at: g.lastPolledAt,
    created_at: g.createdAt,
    expires_at: g.expiresAt,
    resource: g.resource,
    offline: g.offline ? 1 : 0,
  };
}

export function clientFromRow(r: ClientRow): OAuthClient {
  return {
    clientId: r.client_id,
    name: r.name,
    redirectUris: JSON.parse(r.redirect_uris) as string[],
    grantTypes: JSON.parse(r.grant_types) as string[],
    createdAt: num(r.created_at),
    createdIp: r.created_ip,
    revokedAt: numOrNull(r.revoked_at),
  };
}

export function clientToRow(c: OAuthClient): ClientRow {
  return {
    client_id: c.clientId,
    name: c.name,
    redirect_uris: JSON.stringify(c.redirectUris),
    grant_types: JSON.stringify(c.grantTypes),
    created_at: c.createdAt,
    created_ip: c.createdIp,
    revoked_at: c.revokedAt,
  };
}

export function refreshTokenFromRow(r: RefreshTokenRow): RefreshToken {
  return {
    id: r.id,
    familyId: r.family_id,
    tokenHash: r.token_hash,
    clientId: r.client_id,
    userId: r.user_id,
    orgId: r.org_id,
    environment: r.environment,
    name: r.name,
    scope: r.scope,
    resource: r.resource,
    keyId: r.key_id,
    status: r.status,
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
  };
}

export function refreshTokenToRow(t: RefreshToken): RefreshTokenRow {
  return {
    id: t.id,
    family_id: t.familyId,
    token_hash: t.tokenHash,
    client_id: t.clientId,
    user_id: t.userId,
    org_id: t.orgId,
    environment: t.environment,
    name: t.name,
    scope: t.scope,
    resource: t.resource,
    key_id: t.keyId,
    status: t.status,
    created_at: t.createdAt,
    expires_at: t.expiresAt,
  };
}
