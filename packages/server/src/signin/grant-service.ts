import { createHash, randomBytes, randomInt } from 'node:crypto';
import { constantTimeEqual, isScope, KeywardError, type Scope } from '@keyward/core';
import { type Actor, actorOfMember, authorize } from '../auth/authorization.js';
import { sha256 } from '../auth/tokens.js';
import type { KeywardConfig } from '../config/config.js';
import { type Clock, newId } from '../ids.js';
import { keyNameProblem } from '../keys/key-name.js';
import type { KeyService } from '../keys/key-service.js';
import type { ApiKey, AuthGrant, Store } from '../storage/store.js';
import type { Throttles } from '../throttle/throttles.js';

export const CODE_TTL_MS = 2 * 60_000;
export const DEVICE_TTL_MS = 10 * 60_000;
/** RFC 8628's advice: no vowels (no words), no look-alikes. */
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';

/** An error in OAuth's own shape, for the token endpoints: `400 {"error":"invalid_grant","error_description":…}`. */
export class OAuthError extends Error {
  constructor(
    readonly error:
      | 'invalid_request'
      | 'invalid_grant'
      | 'unsupported_grant_type'
      | 'authorization_pending'
      | 'slow_down'
      | 'expired_token'
      | 'access_denied'
      | 'invalid_scope'
      | 'invalid_target',
    readonly description: string,
    readonly status = 400,
  ) {
    super(description);
  }
}

export interface SignInRequest {
  environment: string;
  name: string;
  scope: Scope | null;
  clientId: string | null;
}

/** Where a loopback sign-in may return to: http on 127.0.0.1, [::1] or localhost, with a port. Nothing else. */
export function loopbackCallback(raw: string | undefined): URL | null {
  if (!raw || raw.length > 2048) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' || !['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname)) return null;
  if (!url.port || url.username || url.password || url.hash) return null;
  return url;
}

export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/**
 * Agent sign-in grants. A code (loopback flow) or device code (device flow) is only a claim to a key: the key is
 * minted when the claim is exchanged, once, so no raw key ever waits in storage or travels in a URL.
 */
export class GrantService {
  constructor(
    private readonly store: Store,
    private readonly keys: KeyService,
    private readonly config: KeywardConfig,
    private readonly clock: Clock,
    private readonly throttles: Throttles,
  ) {}

  /** What the consent page may ask for: a known environment, a key name, a scope. Throws a 400 otherwise. */
  checkRequest(params: {
    environment?: string | undefined;
    name?: string | undefined;
    scope?: string | undefined;
    clientId?: string | undefined;
  }): SignInRequest {
    const environment = params.environment || this.config.environments[0]?.name || 'test';
    if (!this.config.environments.some((e) => e.name === environment)) {
      throw new KeywardError('invalid_request', `environment must be one of: ${this.config.environments.map((e) => e.name).join(', ')}.`);
    }
    if (params.scope && !isScope(params.scope)) throw new KeywardError('invalid_request', 'scope must be read, agentic, write or admin.');
    // An agent asking for admin is how a stolen sign-in link would escalate: refused unless the operator allows it.
    if (params.scope === 'admin' && !this.config.agentSignIn.allowAdminScope) {
      throw new KeywardError(
        'invalid_request',
        'Agent sign-in does not issue admin keys on this server; ask for write (or less), or create an admin key in the dashboard.',
      );
    }
    const name = (params.name || `${params.clientId || 'agent'} sign-in`).trim().slice(0, 100);
    const nameProblem = keyNameProblem(name);
    if (nameProblem) throw new KeywardError('invalid_request', `${nameProblem}.`);
    const clientId = params.clientId ? params.clientId.slice(0, 100) : null;
    return { environment, name, scope: (params.scope as Scope) || null, clientId };
  }

  /** The human approved a loopback sign-in: a one-time code bound to the PKCE challenge and the callback. */
  async approveCode(actor: Actor, request: SignInRequest, codeChallenge: string, redirectUri: string): Promise<string> {
    // Refused here, on the consent page, rather than at the exchange: the person approving can still do something.
    authorize(actor, 'key.create', { environment: request.environment, ...(request.scope ? { scope: request.scope } : {}) });
    const code = randomBytes(32).toString('base64url');
    const now = this.clock.now();
    await this.store.insertGrant({
      ...this.#base(request, now, CODE_TTL_MS),
      kind: 'code',
      codeHash: sha256(code),
      userCode: null,
      status: 'approved',
      userId: actor.userId,
      orgId: actor.orgId,
      codeChallenge,
      redirectUri,
    });
    return code;
  }

  /** Exchanges a code and its PKCE verifier for a new key: once, within two minutes, for the same callback. */
  async exchangeCode(code: string, verifier: string, redirectUri?: string) {
    const grant = await this.store.findGrantByCode(sha256(code));
    if (!grant || grant.kind !== 'code') throw new OAuthError('invalid_grant', 'The code is not valid.');
    if (grant.status === 'used') throw new OAuthError('invalid_grant', 'The code was already used.');
    if (grant.expiresAt <= this.clock.now()) throw new OAuthError('invalid_grant', 'The code has expired; sign in again.');
    if (redirectUri !== undefined && redirectUri !== grant.redirectUri)
      throw new OAuthError('invalid_grant', 'redirect_uri does not match.');
    if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || !constantTimeEqual(pkceChallenge(verifier), grant.codeChallenge ?? '')) {
      throw new OAuthError('invalid_grant', 'The code_verifier does not match the code_challenge.');
    }
    return this.#redeem(grant);
  }

  /** A device code for `address` (the client's): throttled per address, since each one is stored. */
  async startDevice(request: SignInRequest, address: string) {
    await this.throttles.deviceCode(address, this.clock.now());
    const deviceCode = randomBytes(32).toString('base64url');
    const raw = Array.from({ length: 8 }, () => USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)]).join('');
    const userCode = `${raw.slice(0, 4)}-${raw.slice(4)}`;
    const now = this.clock.now();
    await this.store.insertGrant({
      ...this.#base(request, now, DEVICE_TTL_MS),
      kind: 'device',
      codeHash: sha256(deviceCode),
      userCode,
      status: 'pending',
      userId: null,
      orgId: null,
      codeChallenge: null,
      redirectUri: null,
    });
    return { deviceCode, userCode, expiresIn: DEVICE_TTL_MS / 1000, interval: this.config.agentSignIn.deviceIntervalSeconds };
  }

  /** The grant behind a user code typed by a person (case and dash forgiven), if it still waits for an answer. */
  /** Wrong codes count against `address` (the person's): past the budget, 429 before any look-up. */
  async pendingDevice(userCodeInput: string, address: string): Promise<AuthGrant | null> {
    await this.throttles.checkUserCode(address, this.clock.now());
    const clean = userCodeInput.toUpperCase().replace(/[^A-Z]/g, '');
    const grant = clean.length === 8 ? await this.store.findGrantByUserCode(`${clean.slice(0, 4)}-${clean.slice(4)}`) : undefined;
    if (!grant || grant.status !== 'pending' || grant.expiresAt <= this.clock.now()) {
      await this.throttles.userCodeFailed(address, this.clock.now());
      return null;
    }
    return grant;
  }

  async answerDevice(actor: Actor, grant: AuthGrant, approve: boolean): Promise<boolean> {
    if (approve) authorize(actor, 'key.create', { environment: grant.environment, ...(grant.scope ? { scope: grant.scope } : {}) });
    return this.store.transitionGrant(grant.id, 'pending', approve ? 'approved' : 'denied', { userId: actor.userId, orgId: actor.orgId });
  }

  /** One poll of the device token endpoint, with RFC 8628's answers. */
  async pollDevice(deviceCode: string) {
    const grant = await this.store.findGrantByCode(sha256(deviceCode));
    if (!grant || grant.kind !== 'device') throw new OAuthError('invalid_grant', 'The device_code is not valid.');
    const now = this.clock.now();
    if (grant.status === 'used') throw new OAuthError('invalid_grant', 'The device_code was already used.');
    if (grant.expiresAt <= now) throw new OAuthError('expired_token', 'The device code has expired; start again.');
    if (grant.status === 'denied') throw new OAuthError('access_denied', 'The sign-in was denied.');
    const tooSoon = grant.lastPolledAt !== null && now - grant.lastPolledAt < grant.pollInterval * 1000;
    await this.store.touchGrant(grant.id, now);
    if (tooSoon) throw new OAuthError('slow_down', `Poll at most every ${grant.pollInterval} seconds.`);
    if (grant.status === 'pending') throw new OAuthError('authorization_pending', 'Waiting for the person to approve.');
    return this.#redeem(grant);
  }

  /** The direct-key redirect some providers use (Nevermined's `?nvm_api_key=`): the key is minted at approval. */
  async mintDirect(actor: Actor, request: SignInRequest) {
    return this.keys.create(actor, {
      name: request.name,
      environment: request.environment,
      ...(request.scope ? { scope: request.scope } : {}),
      agent: request.clientId ?? request.name,
    });
  }

  /**
   * Turns an approved grant into a key, once: the grant's move to `used` and the key's creation are one
   * transaction, so parallel exchanges of one code make one key, and a key that cannot be made (the plan is full)
   * leaves the grant as it was.
   */
  async #redeem(grant: AuthGrant): Promise<{ key: ApiKey; rawKey: string }> {
    try {
      return await this.store.transaction(async () => {
        if (!(await this.store.transitionGrant(grant.id, 'approved', 'used')))
          throw new OAuthError('invalid_grant', 'The grant was already used.');
        const actor = grant.userId && grant.orgId ? await this.#actorFor(grant.userId, grant.orgId) : null;
        if (!actor) throw new OAuthError('access_denied', 'The person who approved is no longer a member of the organization.');
        return await this.keys.create(actor, {
          name: grant.name,
          environment: grant.environment,
          ...(grant.scope ? { scope: grant.scope } : {}),
          // Attribution: the key is the agent's that signed in, by its client id (or the name it gave).
          agent: grant.clientId ?? grant.name,
        });
      });
    } catch (error) {
      if (error instanceof KeywardError) throw new OAuthError('access_denied', error.message);
      throw error;
    }
  }

  /** The actor a grant acts for, looked up when it is redeemed (the person may have left or been re-roled). */
  async #actorFor(userId: string, orgId: string): Promise<Actor | null> {
    const member = await this.store.findMemberByUser(userId);
    return member && member.orgId === orgId ? actorOfMember({ ...member, userId }) : null;
  }

  #base(request: SignInRequest, now: number, ttl: number) {
    return {
      id: newId('grt'),
      environment: request.environment,
      name: request.name,
      scope: request.scope,
      clientId: request.clientId,
      pollInterval: this.config.agentSignIn.deviceIntervalSeconds,
      lastPolledAt: null,
      createdAt: now,
      expiresAt: now + ttl,
    };
  }
}
