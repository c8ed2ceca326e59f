import { createHash, randomBytes, randomInt } from 'node:crypto';
import { constantTimeEqual, fitKeyName, isScope, KeywardError, keyNameProblem, SCOPES, type Scope } from '@keyward/core';
import { type Actor, actorOfMember, authorize, scopeForNewKey, scopesOfNewKeys } from '../auth/authorization.js';
import { sha256 } from '../auth/tokens.js';
import type { KeywardConfig } from '../config/config.js';
import type { Environments } from '../config/environments.js';
import { type Clock, newId } from '../ids.js';
import type { KeyService } from '../keys/key-service.js';
import type { AccountStore, ApiKey, AuthGrant, GrantStore, RefreshToken, StoreBase } from '../storage/store.js';
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
      | 'invalid_target'
      | 'invalid_redirect_uri'
      | 'invalid_client_metadata'
      | 'invalid_token',
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
  /** The API the key is for (RFC 8707), or null for any. */
  resource: string | null;
  /** `offline_access` was asked: a short-lived key and a refresh token. */
  offline: boolean;
}

/** What a token endpoint answers with: the key, and a refresh token when the client asked for offline access. */
export interface Issued {
  key: ApiKey;
  rawKey: string;
  refreshToken?: string;
}

/**
 * The one key scope a sign-in asks for, from OAuth's space-separated `scope`: the highest of the scopes it lists
 * (`read agentic write` from an MCP client that asks for everything it may), `admin` only when the operator allows
 * agents to have it; other words (`offline_access`, `openid`) are not scopes of a key and are passed over.
 */
export function requestedScope(raw: string | undefined, allowAdmin: boolean): { scope: Scope | null; offline: boolean } {
  const words = (raw ?? '').split(/[ +]/).filter(Boolean);
  const offline = words.includes('offline_access');
  const scopes = words.filter((w) => isScope(w)) as Scope[];
  if (words.length > 0 && scopes.length === 0 && !offline)
    throw new KeywardError('invalid_request', 'scope must be read, agentic, write or admin.');
  // An agent asking for admin alone is how a stolen sign-in link would escalate: refused unless allowed.
  if (scopes.length === 1 && scopes[0] === 'admin' && !allowAdmin) {
    throw new KeywardError(
      'invalid_request',
      'Agent sign-in does not issue admin keys on this server; ask for write (or less), or create an admin key in the dashboard.',
    );
  }
  const allowed = scopes.filter((s) => s !== 'admin' || allowAdmin);
  const scope = allowed.length === 0 ? null : allowed.reduce((a, b) => (SCOPES.indexOf(b) > SCOPES.indexOf(a) ? b : a));
  return { scope, offline };
}

/** An RFC 8707 resource: an absolute http(s) URL without a fragment, or null when none was given. */
export function resourceParam(raw: string | undefined): string | null {
  if (raw === undefined || raw === '') return null;
  try {
    const u = new URL(raw);
    if ((u.protocol === 'https:' || u.protocol === 'http:') && !u.hash && raw.length <= 2048) return raw;
  } catch {}
  throw new OAuthError('invalid_target', 'resource must be an absolute http(s) URL without a fragment.');
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
    private readonly store: GrantStore & AccountStore & StoreBase,
    private readonly keys: KeyService,
    private readonly config: KeywardConfig,
    private readonly environments: Environments,
    private readonly clock: Clock,
    private readonly throttles: Throttles,
  ) {}

  /** What the consent page may ask for: a known environment, a key name, a scope. Throws a 400 otherwise. */
  checkRequest(params: {
    environment?: string | undefined;
    name?: string | undefined;
    scope?: string | undefined;
    clientId?: string | undefined;
    clientName?: string | undefined;
    resource?: string | undefined;
  }): SignInRequest {
    const environment = this.environments.pick(params.environment || undefined);
    const { scope, offline } = requestedScope(params.scope, this.config.agentSignIn.allowAdminScope);
    let resource: string | null;
    try {
      resource = resourceParam(params.resource);
    } catch (error) {
      throw new KeywardError('invalid_request', (error as Error).message);
    }
    const name = fitKeyName(params.name || `${params.clientName || params.clientId || 'agent'} sign-in`);
    const nameProblem = keyNameProblem(name);
    if (nameProblem) throw new KeywardError('invalid_request', `${nameProblem}.`);
    const clientId = params.clientId ? params.clientId.slice(0, 2048) : null;
    return { environment, name, scope, clientId, resource, offline };
  }

  /**
   * What the person approving may give a sign-in's key: the scopes at most the one it asks for (the default when it
   * asks none) that their role allows, lowest first. `asked` may be above the role: the page then checks no scope.
   */
  scopeChoice(actor: Actor, request: SignInRequest): { asked: Scope; offered: Scope[] } {
    const asked = scopeForNewKey(actor, request.scope ?? undefined);
    const offered = scopesOfNewKeys(actor, request.environment).filter((s) => SCOPES.indexOf(s) <= SCOPES.indexOf(asked));
    return { asked, offered };
  }

  /**
   * The sign-in with the scope the person picked on the consent page: lower than asked, never above (a 400); none
   * picked keeps what was asked. Their role is checked where the key is approved, as for any key.
   */
  withChosenScope(actor: Actor, request: SignInRequest, chosen: string | undefined): SignInRequest {
    if (chosen === undefined || chosen === '') return request;
    if (!isScope(chosen)) throw new KeywardError('invalid_request', 'The scope must be read, agentic, write or admin.');
    const { asked } = this.scopeChoice(actor, request);
    if (SCOPES.indexOf(chosen) > SCOPES.indexOf(asked))
      throw new KeywardError(
        'invalid_request',
        `The application asked for ${asked}: its key can have that scope or a lower one, not ${chosen}.`,
      );
    return { ...request, scope: chosen };
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

  /**
   * Exchanges a code and its PKCE verifier for a new key: once, within two minutes, for the same callback and (when
   * it names one) the same client. `resource` (RFC 8707) must be the one the sign-in asked for, if it asked for one.
   */
  async exchangeCode(code: string, verifier: string, redirectUri?: string, clientId?: string, resource?: string): Promise<Issued> {
    const grant = await this.store.findGrantByCode(sha256(code));
    if (!grant || grant.kind !== 'code') throw new OAuthError('invalid_grant', 'The code is not valid.');
    if (grant.status === 'used') throw new OAuthError('invalid_grant', 'The code was already used.');
    if (grant.expiresAt <= this.clock.now()) throw new OAuthError('invalid_grant', 'The code has expired; sign in again.');
    if (redirectUri !== undefined && redirectUri !== grant.redirectUri)
      throw new OAuthError('invalid_grant', 'redirect_uri does not match.');
    if (clientId !== undefined && grant.clientId !== null && clientId !== grant.clientId)
      throw new OAuthError('invalid_grant', 'The code was issued to another client.');
    if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || !constantTimeEqual(pkceChallenge(verifier), grant.codeChallenge ?? '')) {
      throw new OAuthError('invalid_grant', 'The code_verifier does not match the code_challenge.');
    }
    const asked = resourceParam(resource);
    if (asked !== null && grant.resource !== null && asked !== grant.resource)
      throw new OAuthError('invalid_target', 'resource is not the one the sign-in was for.');
    return this.#redeem({ ...grant, resource: grant.resource ?? asked });
  }

  /**
   * A refresh token for a new access key and the next refresh token (rotation). A token is good once: a second use
   * means it was copied, so its whole family and every key minted with it are revoked.
   */
  async refresh(token: string, clientId?: string): Promise<Issued> {
    const found = await this.store.findRefreshToken(sha256(token));
    if (!found) throw new OAuthError('invalid_grant', 'The refresh token is not valid.');
    if (clientId !== undefined && found.clientId !== null && clientId !== found.clientId)
      throw new OAuthError('invalid_grant', 'The refresh token was issued to another client.');
    if (found.status === 'revoked') throw new OAuthError('invalid_grant', 'The refresh token was revoked.');
    if (found.clientId?.startsWith('mcp_') && (await this.store.findClient(found.clientId))?.revokedAt !== null)
      throw new OAuthError('invalid_grant', 'The client registration was revoked.');
    const now = this.clock.now();
    if (found.status === 'used' || !(await this.store.useRefreshToken(found.id))) {
      await this.#revokeFamily(found);
      throw new OAuthError('invalid_grant', 'The refresh token was already used: its family is revoked. Sign in again.');
    }
    if (found.expiresAt <= now) throw new OAuthError('invalid_grant', 'The refresh token has expired; sign in again.');
    const actor = await this.#actorFor(found.userId, found.orgId);
    if (!actor) {
      await this.#revokeFamily(found);
      throw new OAuthError('invalid_grant', 'The person who approved is no longer a member of the organization.');
    }
    // The key the old refresh token came with is replaced: it stops now rather than at its expiry. It is revoked
    // before its successor is minted, and only if it was neither revoked nor rotated: a revocation that came between
    // this token's use and now (the owner's, a leak report's) found no active token to end, and a rotation hands the
    // key's lineage to its owner, so the family ends here.
    const replaced = await this.keys.revokeReplaced(actor, found.keyId).catch((error: unknown) => {
      if (error instanceof KeywardError) return false; // not theirs to revoke any more
      throw error;
    });
    if (!replaced) {
      await this.#revokeFamily(found);
      throw new OAuthError('invalid_grant', 'The key this refresh token came with was revoked: its family is revoked. Sign in again.');
    }
    try {
      const issued = await this.store.transaction(async () => {
        const minted = await this.#mint(actor, {
          name: found.name,
          environment: found.environment,
          scope: found.scope,
          clientId: found.clientId,
          resource: found.resource,
        });
        const refreshToken = await this.#refreshToken({ ...found, keyId: minted.key.id }, now);
        return { ...minted, refreshToken };
      });
      return issued;
    } catch (error) {
      if (error instanceof KeywardError) throw new OAuthError('access_denied', error.message);
      throw error;
    }
  }

  async #revokeFamily(token: RefreshToken): Promise<void> {
    const keyIds = await this.store.revokeRefreshFamily(token.familyId);
    const actor = await this.#actorFor(token.userId, token.orgId);
    if (actor) for (const id of keyIds) await this.keys.revoke(actor, id).catch(() => undefined);
  }

  /** A new refresh token of `of`'s family (a new family when `of` has none), stored by its hash only. */
  async #refreshToken(of: Omit<RefreshToken, 'id' | 'tokenHash' | 'status' | 'createdAt' | 'expiresAt'>, now: number): Promise<string> {
    const token = `kwr_${randomBytes(32).toString('base64url')}`;
    await this.store.insertRefreshToken({
      ...of,
      id: newId('rft'),
      tokenHash: sha256(token),
      status: 'active',
      createdAt: now,
      expiresAt: now + this.config.agentSignIn.refreshTokenTtlSeconds * 1000,
    });
    return token;
  }

  /** The key a sign-in mints: attributed to its client, bound to its resource, short-lived when it comes with a refresh token. */
  #mint(
    actor: Actor,
    g: { name: string; environment: string; scope: Scope | null; clientId: string | null; resource: string | null },
    offline = true,
  ) {
    return this.keys.create(actor, {
      name: g.name,
      environment: g.environment,
      ...(g.scope ? { scope: g.scope } : {}),
      agent: g.clientId ?? g.name,
      resource: g.resource,
      ...(offline ? { expiresAt: this.clock.now() + this.config.agentSignIn.accessKeyTtlSeconds * 1000 } : {}),
    });
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
  /**
   * Each code typed reserves a unit of `address` (the person's) before the look-up, so past the budget it is a 429
   * however many arrive at once; a right code gives its unit back, so only wrong ones stay counted.
   */
  async pendingDevice(userCodeInput: string, address: string): Promise<AuthGrant | null> {
    await this.throttles.reserveUserCode(address, this.clock.now());
    const clean = userCodeInput.toUpperCase().replace(/[^A-Z]/g, '');
    const grant = clean.length === 8 ? await this.store.findGrantByUserCode(`${clean.slice(0, 4)}-${clean.slice(4)}`) : undefined;
    if (!grant || grant.status !== 'pending' || grant.expiresAt <= this.clock.now()) return null;
    await this.throttles.userCodeRight(address, this.clock.now());
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
      resource: request.resource,
    });
  }

  /**
   * Turns an approved grant into a key, once: the grant's move to `used` and the key's creation are one
   * transaction, so parallel exchanges of one code make one key, and a key that cannot be made (the plan is full)
   * leaves the grant as it was.
   */
  async #redeem(grant: AuthGrant): Promise<Issued> {
    try {
      return await this.store.transaction(async () => {
        if (!(await this.store.transitionGrant(grant.id, 'approved', 'used')))
          throw new OAuthError('invalid_grant', 'The grant was already used.');
        const actor = grant.userId && grant.orgId ? await this.#actorFor(grant.userId, grant.orgId) : null;
        if (!actor) throw new OAuthError('access_denied', 'The person who approved is no longer a member of the organization.');
        // Attribution: the key is the agent's that signed in, by its client id (or the name it gave).
        const minted = await this.#mint(actor, grant, grant.offline);
        if (!grant.offline) return minted;
        const now = this.clock.now();
        const refreshToken = await this.#refreshToken(
          {
            familyId: newId('rff'),
            clientId: grant.clientId,
            userId: actor.userId,
            orgId: actor.orgId,
            environment: grant.environment,
            name: grant.name,
            scope: minted.key.scope,
            resource: grant.resource,
            keyId: minted.key.id,
          },
          now,
        );
        return { ...minted, refreshToken };
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
      resource: request.resource,
      offline: request.offline,
      pollInterval: this.config.agentSignIn.deviceIntervalSeconds,
      lastPolledAt: null,
      createdAt: now,
      expiresAt: now + ttl,
    };
  }
}
