import {
  fitKeyName,
  isScope,
  KeywardError,
  keyState,
  lowerScope,
  type Role,
  SCOPES,
  type Scope,
  type ServedEnvironments,
  scopeAllows,
} from '@keyward/core';
import type { AuditLog } from '../audit/audit-log.js';
import { type Actor, actorOfMember, canDecideScopeRequest, grantableScopes, roleOfScope } from '../auth/authorization.js';
import { newToken, sha256 } from '../auth/tokens.js';
import type { KeywardConfig } from '../config/config.js';
import type { ApiKey, CheckedKey, ScopeRequest } from '../entities.js';
import { type Clock, sortableId } from '../ids.js';
import type { KeyService } from '../keys/key-service.js';
import { OAuthError } from '../signin/grant-service.js';
import type { AccountStore, KeyStore, ScopeRequestStore, StoreBase } from '../storage/store.js';

/** What an agent asks for: a scope, its reason (CIBA's `binding_message`), and optionally a resource and a lifetime. */
export interface ScopeAsk {
  scope: string;
  reason: string;
  resource?: string | undefined;
  requestedExpiry?: number | undefined;
}

/** A request as the Requests page shows it, with what the viewer may do about it. */
export interface ScopeRequestView {
  request: ScopeRequest;
  /** The key that asked (null when it is gone from the organization). */
  key: ApiKey | undefined;
  /** Whether the viewer may approve it, and at which scopes (weakest first); whether they may deny it. */
  mayApprove: boolean;
  grantable: Scope[];
  mayDeny: boolean;
}

/** Whether a request's reason is fit to show a person: 1 to 200 printable characters. */
function reasonProblem(reason: string): string | null {
  const chars = [...reason];
  if (chars.length === 0 || reason.trim() === '') return 'binding_message is required: say why the agent needs the scope.';
  if (chars.length > 200) return 'binding_message is at most 200 characters.';
  if (/[\u0000-\u001f\u007f]/.test(reason)) return 'binding_message may not contain control characters.';
  return null;
}

/**
 * Scope requests over OpenID CIBA in poll mode: an agent asks with the key it holds, a person decides on the
 * Requests page, and the agent's poll gets a new key. The new key is made by the approver (capped by, and
 * shrinking with, their role), for the requesting key's agent and environment; the requesting key goes on as it
 * was. Every request and decision is audited (`key.scope_requested`, `key.scope_request_decided`), which are also
 * the webhook events.
 */
export class ScopeRequestService {
  constructor(
    private readonly deps: {
      config: KeywardConfig;
      store: ScopeRequestStore & KeyStore & AccountStore & StoreBase;
      keys: KeyService;
      audit: AuditLog;
      clock: Clock;
      /** Which environments are served: whether the key that asked still works is `keyState`'s answer. */
      environments: ServedEnvironments;
    },
  ) {}

  /** The link that opens one request on the Requests page. */
  linkOf(id: string): string {
    return `${this.deps.config.publicUrl}/dashboard/requests/${id}`;
  }

  /** An agent asks (`POST /api/oauth/bc-authorize`): the answer CIBA's poll mode gives. */
  async ask(asker: CheckedKey, ask: ScopeAsk): Promise<{ authReqId: string; expiresIn: number; interval: number }> {
    const { config, store, clock, audit } = this.deps;
    const key = asker.record;
    const scope = ask.scope.trim();
    if (!isScope(scope)) throw new OAuthError('invalid_scope', `scope must be one of ${SCOPES.join(', ')}.`);
    if (scope === 'admin' && !config.agentSignIn.allowAdminScope)
      throw new OAuthError('invalid_scope', 'Agents cannot ask for admin scope on this server (agent_sign_in.allow_admin_scope).');
    if (scopeAllows(asker.scope, scope))
      throw new OAuthError('invalid_scope', `This key already has scope ${asker.scope}, which covers ${scope}.`);
    const problem = reasonProblem(ask.reason);
    if (problem) throw new OAuthError('invalid_request', problem);
    if (key.resource !== null && ask.resource !== undefined && ask.resource !== key.resource)
      throw new OAuthError('invalid_target', `This key is bound to ${key.resource}; its requests are too.`);
    const now = clock.now();
    const lifetime = config.scopeRequests.expiresInSeconds;
    const { token, hash } = newToken('kwreq_');
    const request: ScopeRequest = {
      id: sortableId('sreq', now),
      orgId: key.orgId,
      keyId: key.id,
      userId: key.createdBy,
      environment: key.environment,
      agent: key.agent,
      currentScope: asker.scope,
      scope,
      reason: ask.reason,
      resource: ask.resource ?? key.resource,
      requestedExpiry: ask.requestedExpiry ?? null,
      authReqHash: hash,
      status: 'pending',
      decidedBy: null,
      decidedAt: null,
      grantedScope: null,
      grantedExpiresAt: null,
      issuedKeyId: null,
      pollInterval: config.scopeRequests.intervalSeconds,
      lastPolledAt: null,
      createdAt: now,
      expiresAt: now + lifetime * 1000,
    };
    await store.transaction(async () => {
      await store.lockOrganization(key.orgId);
      const max = config.scopeRequests.maxPendingPerKey;
      if ((await store.countPendingScopeRequests(key.id, now)) >= max) {
        throw new KeywardError(
          'rate_limited',
          `This key already has ${max} scope requests waiting for a decision (scope_requests.max_pending_per_key). Wait for them, or let them expire.`,
          { 'retry-after': String(lifetime) },
        );
      }
      await store.insertScopeRequest(request);
      await audit.write(keyActor(asker), 'key.scope_requested', key.id, {
        request_id: request.id,
        agent: request.agent,
        current_scope: request.currentScope,
        requested_scope: scope,
        reason: request.reason,
        ...(request.resource ? { resource: request.resource } : {}),
        expires_at: new Date(request.expiresAt).toISOString(),
        link: this.linkOf(request.id),
      });
    });
    return { authReqId: token, expiresIn: lifetime, interval: request.pollInterval };
  }

  /**
   * The agent polls with `auth_req_id`: pending (or too soon: `slow_down`), denied, expired, or, once approved, the
   * new key, exactly once (a second poll is `invalid_grant`). The key is minted now, as the approver.
   */
  async poll(authReqId: string): Promise<{ key: ApiKey; rawKey: string; approver: { id: string; email: string; name: string | null } }> {
    const { store, clock } = this.deps;
    const request = await store.findScopeRequestByHash(sha256(authReqId));
    if (!request) throw new OAuthError('invalid_grant', 'Unknown auth_req_id.');
    const now = clock.now();
    switch (request.status) {
      case 'delivered':
        throw new OAuthError('invalid_grant', 'The key of this request was already delivered.');
      case 'denied':
        throw new OAuthError('access_denied', 'The request was denied.');
      case 'pending': {
        if (request.expiresAt <= now) throw new OAuthError('expired_token', 'The request expired before anyone decided it. Ask again.');
        const early = request.lastPolledAt !== null && now - request.lastPolledAt < request.pollInterval * 1000;
        await store.touchScopeRequest(request.id, now);
        if (early) throw new OAuthError('slow_down', `Poll at most every ${request.pollInterval} seconds.`);
        throw new OAuthError('authorization_pending', 'Waiting for a person to approve the request.');
      }
    }
    return this.#deliver(request);
  }

  async #deliver(request: ScopeRequest) {
    const { store, keys, clock } = this.deps;
    const approverId = request.decidedBy as string;
    const member = await store.findMemberByUser(approverId);
    const user = await store.findUser(approverId);
    if (!member || member.orgId !== request.orgId || !member.userId || !user)
      throw new OAuthError('access_denied', 'The person who approved the request is no longer a member of the organization.');
    const approver = actorOfMember({ ...member, userId: member.userId });
    const asking = await store.findKey(request.orgId, request.keyId);
    const now = clock.now();
    // The key that asked is the agent's credential: revoked (or ended) meanwhile, nothing is delivered to it.
    if (!asking || !keyState(asking, now, this.deps.environments).usable)
      throw new OAuthError('access_denied', 'The key that asked no longer works, so the approved key is not issued.');
    const scope = lowerScope(request.grantedScope ?? request.scope, approver.role);
    return store.transaction(async () => {
      const { key, rawKey } = await keys.create(approver, {
        name: fitKeyName(`${asking?.name ?? request.agent ?? 'agent'} (${scope})`),
        scope,
        environment: request.environment,
        agent: request.agent,
        resource: request.resource,
        ...(request.grantedExpiresAt !== null && request.grantedExpiresAt > now ? { expiresAt: request.grantedExpiresAt } : {}),
        scopeRequest: {
          id: request.id,
          requestingKeyId: request.keyId,
          approvedBy: approverId,
          approverEmail: user.email,
          reason: request.reason,
        },
      });
      if (!(await store.transitionScopeRequest(request.id, 'approved', 'delivered', { issuedKeyId: key.id })))
        throw new OAuthError('invalid_grant', 'The key of this request was already delivered.');
      return { key, rawKey, approver: { id: user.id, email: user.email, name: user.name } };
    });
  }

  /** The organization's requests waiting for a decision, as the viewer sees them. */
  async pending(actor: Actor): Promise<ScopeRequestView[]> {
    const requests = await this.deps.store.listPendingScopeRequests(actor.orgId, this.deps.clock.now(), 200);
    return Promise.all(requests.map((r) => this.#view(actor, r)));
  }

  /**
   * How many waiting requests the viewer may decide: the count beside Requests in the navigation, on every page, so
   * it reads no keys and each requester's role once.
   */
  async pendingCount(actor: Actor): Promise<number> {
    const requests = await this.deps.store.listPendingScopeRequests(actor.orgId, this.deps.clock.now(), 200);
    const roles = new Map<string, Promise<Role | null>>();
    let n = 0;
    for (const r of requests) {
      if (!roles.has(r.userId)) roles.set(r.userId, this.#roleOf(r));
      const role = await roles.get(r.userId);
      if (canDecideScopeRequest(actor, r, 'approve', role ?? null).allowed || canDecideScopeRequest(actor, r, 'deny', role ?? null).allowed)
        n++;
    }
    return n;
  }

  /** One request of the viewer's organization, in whatever state. */
  async get(actor: Actor, id: string): Promise<ScopeRequestView> {
    const request = await this.deps.store.findScopeRequest(actor.orgId, id);
    if (!request) throw new KeywardError('not_found', 'No such scope request.');
    return this.#view(actor, request);
  }

  /** The requests a key made that became keys: what its page links to. */
  async issuedFrom(actor: Actor, keyId: string): Promise<ScopeRequest[]> {
    const list = await this.deps.store.listIssuedScopeRequests(keyId);
    return list.filter((r) => r.orgId === actor.orgId);
  }

  /**
   * A person approves (at a scope and lifetime at most what was asked and at most their role) or denies. Only a
   * pending, unexpired request can be decided, once.
   */
  async decide(
    actor: Actor,
    id: string,
    decision: { approve: true; scope?: Scope | undefined; expiresInSeconds?: number | undefined } | { approve: false },
  ): Promise<ScopeRequest> {
    const { store, clock, audit } = this.deps;
    const view = await this.get(actor, id);
    const request = view.request;
    const now = clock.now();
    if (request.status !== 'pending')
      throw new KeywardError('conflict', `This request was already ${request.status === 'denied' ? 'denied' : 'approved'}.`);
    if (request.expiresAt <= now) throw new KeywardError('conflict', 'This request expired before it was decided.');
    const allowed = canDecideScopeRequest(actor, request, decision.approve ? 'approve' : 'deny', await this.#roleOf(request));
    if (!allowed.allowed) throw new KeywardError('forbidden', allowed.message, {}, allowed.details);
    let grantedScope: Scope | null = null;
    let grantedExpiresAt: number | null = null;
    if (decision.approve) {
      grantedScope = decision.scope ?? request.scope;
      if (!view.grantable.includes(grantedScope))
        throw new KeywardError(
          'forbidden',
          `You may grant ${view.grantable.join(', ') || 'no scope'} for this request; not ${grantedScope}.`,
          {},
          { field: 'scope' },
        );
      const asked = request.requestedExpiry;
      const seconds = decision.expiresInSeconds ?? asked ?? undefined;
      if (seconds !== undefined) grantedExpiresAt = now + Math.min(seconds, asked ?? seconds) * 1000;
    }
    const status = decision.approve ? 'approved' : 'denied';
    await store.transaction(async () => {
      const moved = await store.transitionScopeRequest(request.id, 'pending', status, {
        decidedBy: actor.userId,
        decidedAt: now,
        grantedScope,
        grantedExpiresAt,
      });
      if (!moved) throw new KeywardError('conflict', 'This request was decided meanwhile.');
      await audit.write(actor, 'key.scope_request_decided', request.keyId, {
        request_id: request.id,
        decision: status,
        requested_scope: request.scope,
        ...(grantedScope ? { granted_scope: grantedScope } : {}),
        ...(grantedExpiresAt ? { expires_at: new Date(grantedExpiresAt).toISOString() } : {}),
        reason: request.reason,
        link: this.linkOf(request.id),
      });
    });
    return { ...request, status, decidedBy: actor.userId, decidedAt: now, grantedScope, grantedExpiresAt };
  }

  async #roleOf(request: ScopeRequest): Promise<Role | null> {
    const member = await this.deps.store.findMemberByUser(request.userId);
    return member && member.orgId === request.orgId ? member.role : null;
  }

  async #view(actor: Actor, request: ScopeRequest): Promise<ScopeRequestView> {
    const role = await this.#roleOf(request);
    const mayApprove = canDecideScopeRequest(actor, request, 'approve', role).allowed;
    return {
      request,
      key: await this.deps.store.findKey(request.orgId, request.keyId),
      mayApprove,
      grantable: mayApprove ? grantableScopes(actor, request.scope) : [],
      mayDeny: canDecideScopeRequest(actor, request, 'deny', role).allowed,
    };
  }
}

/** The asking key as the audit log's actor: the key, acting for its creator. */
function keyActor(k: CheckedKey): Actor {
  const r = k.record;
  return {
    kind: 'key',
    keyId: r.id,
    userId: r.createdBy,
    orgId: r.orgId,
    role: roleOfScope(k.scope),
    memberId: '',
    environment: r.environment,
  };
}
