import { KeywardError, type Role } from '@keyward/core';
import { type Actor, actorOfMember } from '../auth/authorization.js';
import { DUMMY_HASH, hashPassword, verifyPassword } from '../auth/passwords.js';
import { newToken, sha256 } from '../auth/tokens.js';
import type { KeywardConfig } from '../config/config.js';
import { type Clock, newId } from '../ids.js';
import { EXTERNAL_ID_DOMAIN, IMPORTED_ACCOUNT } from '../import/imported-keys.js';
import { organizationNameFor } from '../org/organization-name.js';
import type { AccountStore, Member, Organization, User } from '../storage/store.js';
import type { Throttles } from '../throttle/throttles.js';

export type { Actor } from '../auth/authorization.js';

export interface SessionContext {
  user: User;
  organization: Organization;
  member: Member;
  sessionId: string;
}

/** The actor a signed-in person acts as: themselves, in their organization, with their current role. */
export function actorOfSession(s: SessionContext): Actor {
  return actorOfMember({ ...s.member, userId: s.user.id, orgId: s.organization.id });
}

/** Sign-up, sign-in and sessions. */
export class AccountService {
  constructor(
    private readonly store: AccountStore,
    private readonly config: KeywardConfig,
    private readonly clock: Clock,
    private readonly throttles: Throttles,
  ) {}

  /**
   * What an invitation link is for, to show on its sign-up page: the organization, the address it was sent to and
   * the role, and whether it is an import's claim link (which a signed-in account may claim instead); undefined when
   * it is unknown, used or expired.
   */
  async invitation(token: string): Promise<{ email: string; organization: string; role: Role; imported: boolean } | undefined> {
    if (!token) return undefined;
    const invited = await this.store.findMemberByInvite(sha256(token));
    if (!invited || (invited.inviteExpiresAt ?? 0) <= this.clock.now()) return undefined;
    if (invited.userId !== null && (await this.store.findUser(invited.userId))?.passwordHash !== IMPORTED_ACCOUNT) return undefined;
    const org = await this.store.findOrganization(invited.orgId);
    // An owner known by an external id only chooses the address they claim the account with.
    const email = invited.email.endsWith(EXTERNAL_ID_DOMAIN) ? '' : invited.email;
    return org ? { email, organization: org.name, role: invited.role, imported: invited.userId !== null } : undefined;
  }

  /** Creates an account; `address` is the client's, charged to the sign-up throttle before any work. */
  async signup(input: { email: string; password: string; name?: string; inviteToken?: string }, address: string) {
    await this.throttles.signUp(address, this.clock.now());
    const email = input.email.trim().toLowerCase();
    // The password is hashed before the e-mail is looked up, so a taken address costs the same as a free one:
    // sign-up cannot be used to test thousands of addresses a second.
    const passwordHash = await hashPassword(input.password);
    const existing = await this.store.findUserByEmail(email);
    // An account an import made for the owner of imported keys has no password. It is claimed with the link the
    // import gave its operator (an invitation to that account), never by the e-mail alone: keyward checks no
    // addresses, and whoever claims it manages the organization the imported keys belong to.
    const invited = input.inviteToken ? await this.store.findMemberByInvite(sha256(input.inviteToken)) : undefined;
    if (invited?.userId) return this.#claimImported(invited, email, existing, passwordHash, input.name);
    if (existing?.passwordHash === IMPORTED_ACCOUNT) {
      throw new KeywardError(
        'conflict',
        "Keys were imported for this address: create the account with the link the server's operator sent you.",
      );
    }
    if (existing) throw new KeywardError('conflict', 'An account with this e-mail address already exists.');
    const now = this.clock.now();
    const user: User = {
      id: newId('usr'),
      email,
      name: input.name?.trim() || null,
      passwordHash,
      createdAt: now,
    };
    let organization: Organization | undefined;
    let member: Member;
    if (input.inviteToken) {
      if (!invited || invited.userId !== null || (invited.inviteExpiresAt ?? 0) <= now) {
        throw new KeywardError('invalid_request', 'The invitation is invalid or has expired.');
      }
      if (invited.email !== email) throw new KeywardError('invalid_request', 'This invitation was sent to another e-mail address.');
      member = { ...invited, userId: user.id, inviteTokenHash: null, inviteExpiresAt: null, joinedAt: now };
    } else {
      organization = {
        id: newId('org'),
        name: organizationNameFor(user.name, email),
        plan: this.config.defaultPlan,
        createdAt: now,
      };
      member = {
        id: newId('mem'),
        orgId: organization.id,
        userId: user.id,
        email,
        role: 'admin',
        inviteTokenHash: null,
        inviteExpiresAt: null,
        invitedBy: null,
        createdAt: now,
        joinedAt: now,
      };
    }
    try {
      await this.store.createAccount({ user, member, ...(organization ? { organization } : {}) });
    } catch (error) {
      if (await this.store.findUserByEmail(email))
        throw new KeywardError('conflict', 'An account with this e-mail address already exists.');
      throw error;
    }
    return {
      user,
      member,
      organization: await this.store.findOrganization(member.orgId),
      ...(await this.#startSession(user.id, member.orgId)),
    };
  }

  /**
   * Claims an account an import made, with the invitation the import issued for it (once). An account made for an
   * owner known only by an external id (`<id>@imported.invalid`) takes the address it is claimed with.
   */
  async #claimImported(invited: Member, email: string, existing: User | undefined, passwordHash: string, name?: string) {
    const user = invited.userId ? await this.store.findUser(invited.userId) : undefined;
    if (!user || user.passwordHash !== IMPORTED_ACCOUNT || (invited.inviteExpiresAt ?? 0) <= this.clock.now()) {
      throw new KeywardError('invalid_request', 'The invitation is invalid or has expired.');
    }
    if (user.email !== email && !(user.email.endsWith(EXTERNAL_ID_DOMAIN) && !existing)) {
      throw new KeywardError('invalid_request', 'This invitation was sent to another e-mail address.');
    }
    const claimed = { ...user, email, name: name?.trim() || user.name, passwordHash };
    if (!(await this.store.claimImportedAccount(claimed, invited.id, IMPORTED_ACCOUNT))) {
      throw new KeywardError('invalid_request', 'The invitation is invalid or has expired.');
    }
    return {
      user: claimed,
      member: { ...invited, email, inviteTokenHash: null, inviteExpiresAt: null },
      organization: await this.store.findOrganization(invited.orgId),
      ...(await this.#startSession(user.id, invited.orgId)),
    };
  }

  /**
   * Signs in; `address` is the client's, for the throttle: each attempt reserves a unit per e-mail and address and
   * per address before the password is checked, and a successful one gives them back (only failures stay counted).
   */
  async login(emailInput: string, password: string, address: string) {
    const email = emailInput.trim().toLowerCase();
    await this.throttles.reserveSignIn(email, address, this.clock.now());
    const user = await this.store.findUserByEmail(email);
    const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
    const member = user && ok ? await this.store.findMemberByUser(user.id) : undefined;
    if (!user || !ok || !member) throw new KeywardError('unauthorized', 'Incorrect e-mail address or password.');
    await this.throttles.signInSucceeded(email, address, this.clock.now());
    return {
      user,
      member,
      organization: await this.store.findOrganization(member.orgId),
      ...(await this.#startSession(user.id, member.orgId)),
    };
  }

  async logout(token: string): Promise<void> {
    await this.store.deleteSession(sha256(token));
  }

  /** The session behind a cookie value, or null when it is unknown, expired, or its member was removed. */
  async session(token: string): Promise<SessionContext | null> {
    if (token.length > 200) return null;
    const sessionId = sha256(token);
    const session = await this.store.findSession(sessionId);
    if (!session || session.expiresAt <= this.clock.now()) return null;
    const [user, organization, member] = await Promise.all([
      this.store.findUser(session.userId),
      this.store.findOrganization(session.orgId),
      this.store.findMemberByUser(session.userId),
    ]);
    if (!user || !organization || !member || member.orgId !== organization.id) return null;
    return { user, organization, member, sessionId };
  }

  async #startSession(userId: string, orgId: string) {
    const { token, hash } = newToken('kws_');
    const now = this.clock.now();
    await this.store.insertSession({ id: hash, userId, orgId, createdAt: now, expiresAt: now + this.config.sessionTtlMs });
    return { token, expiresAt: now + this.config.sessionTtlMs };
  }
}
