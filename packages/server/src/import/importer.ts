import { DEFAULT_KEY_SCOPE, importedKeyName, isScope, KeywardError, lowerScope, type Role, type Scope } from '@keyward/core';
import type { AuditLog } from '../audit/audit-log.js';
import { type Actor, authorize } from '../auth/authorization.js';
import { newToken, sha256 } from '../auth/tokens.js';
import type { Invalidations } from '../cache/invalidation-bus.js';
import type { KeywardConfig } from '../config/config.js';
import { type Clock, newId, sortableId } from '../ids.js';
import { organizationNameFor } from '../org/organization-name.js';
import type { AccountStore, ApiKey, ImportStore } from '../storage/store.js';
import { EXTERNAL_ID_DOMAIN, heldAddress, IMPORTED_ACCOUNT, type ImportedKeys, importedHash, importRefOf } from './imported-keys.js';
import { type HashFormat, type ImportSource, type Progress, readSource, type SourceRecord } from './sources.js';

/** How long a claim link works; `keyward-server admin claim-link` makes a new one. */
export const CLAIM_TTL_MS = 30 * 86_400_000;

/**
 * A new owner's way in, and that of an owner whose address has an account here (held for the claim): the link (an
 * invitation to the account the import made) to send them.
 */
export interface Claim {
  /** The owner's address (or `<external id>@imported.invalid`), as the source named them. */
  email: string;
  organizationId: string;
  /** `<public_url>/signup?invite_token=…`: a secret, as an invitation link is. */
  link: string;
}

/**
 * Permissions and roles of other products, onto keyward's scopes (the table in docs/import.md): any word that reads as
 * administration makes `admin`; else any that writes makes `write`; else any that runs agent actions `agentic`;
 * else `read`. Words are split on `.`, `:`, `/`, `_`, `-` and `*` counts as administration.
 */
export function scopeOfPermissions(words: readonly string[]): Scope | null {
  if (words.length === 0) return null;
  const parts = words.flatMap((w) => w.toLowerCase().split(/[.:/_\s-]+/)).filter(Boolean);
  const has = (...xs: string[]) => parts.some((p) => xs.includes(p)) || words.some((w) => xs.includes(w.toLowerCase()));
  if (has('admin', 'owner', 'manage', 'superuser', 'root', '*')) return 'admin';
  if (has('write', 'create', 'update', 'delete', 'edit', 'post', 'put', 'patch', 'remove', 'modify')) return 'write';
  if (has('agentic', 'agent', 'execute', 'run', 'invoke', 'evaluate')) return 'agentic';
  return 'read';
}

/** A stored hash of a raw key as 32 bytes in hex, from the encoding the source used (or whichever fits). */
export function sha256HexOf(hash: string, format: HashFormat | null): string | null {
  const h = hash.trim();
  const hex = format === 'sha256-hex' || format === 'hmac-sha256-hex' || format === null;
  if (hex && /^[0-9a-fA-F]{64}$/.test(h)) return h.toLowerCase();
  if (format === 'sha256-hex' || format === 'hmac-sha256-hex') return null;
  if (!/^[A-Za-z0-9+/_-]{42,44}={0,2}$/.test(h)) return null;
  const bytes = Buffer.from(h.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return bytes.length === 32 ? bytes.toString('hex') : null;
}

export interface ImportOptions {
  source: ImportSource;
  file: string;
  dryRun?: boolean;
  /** The environment imported keys get (a configured one; default the first). */
  environment?: string;
  /** Called after each batch with the records read so far and the share of the input read (0 to 1). */
  onProgress?: (read: number, share: number) => void;
  /** Who runs the import, for the organizations' audit logs (default `keyward-server admin import`). */
  by?: string;
  /** Called for each owner given a new organization (not in a dry run), with the link that claims it. */
  onClaim?: (claim: Claim) => void;
  /**
   * The operator vouches for the address of every account here: an owner whose address has an account gets their
   * keys in that account's organization at once. Without it such an owner's keys are held in a new organization
   * for the claim link, as a new owner's are: keyward verifies no address, so an account's address proves nothing.
   */
  matchExistingAccounts?: boolean;
}

export interface ImportReport {
  source: ImportSource;
  dryRun: boolean;
  read: number;
  /** Keys created (or, in a dry run, that would be). */
  created: number;
  /** Keys already imported by an earlier run: skipped. */
  alreadyImported: number;
  /** Records that cannot be imported, with why (the first 100; `invalid` counts them all). */
  skipped: { record: number; where: string; reason: string }[];
  invalid: number;
  /** Owners matched to existing accounts, and organizations created for the others (by e-mail). */
  matchedOwners: string[];
  createdOwners: string[];
  /**
   * Owners whose address has an account here that the operator did not vouch for (no `matchExistingAccounts`):
   * their keys are held in a new organization until the claim link is used.
   */
  heldOwners: string[];
  scopes: Record<Scope, number>;
  /** Revoked at import (disabled at the source), and already expired. */
  revoked: number;
  expired: number;
}

interface Owner {
  userId: string;
  orgId: string;
  plan: string;
  role: Role;
}

const BATCH = 10_000;

/**
 * Takes over keys another product issued, without re-issuing any: each record's owner becomes (or is matched to)
 * an organization by e-mail, its settings are mapped onto keyward's (scope, expiry, credits as a budget, rate
 * limit, metadata, dates), and the hash its former product stored is kept until the key's first use here, when the
 * verifier replaces it with keyward's HMAC. Idempotent: a keyed reference of each imported hash makes a re-run skip
 * what is there. A dry run reads, maps and reports, and writes nothing.
 */
export class Importer {
  constructor(
    private readonly deps: {
      store: ImportStore & AccountStore;
      config: KeywardConfig;
      clock: Clock;
      audit: AuditLog;
      /** This server's view of whether imported keys exist: told at once when a run stores some (absent for the CLI). */
      imported?: ImportedKeys;
      /** This instance's verification cache and the other instances, told when claimed keys change organization. */
      invalidations?: Invalidations;
    },
  ) {}

  async run(o: ImportOptions): Promise<ImportReport> {
    const { config } = this.deps;
    const environment = o.environment ?? config.environments[0]?.name ?? 'test';
    if (!config.environments.some((e) => e.name === environment)) {
      throw new Error(`--environment must be one of: ${config.environments.map((e) => e.name).join(', ')}`);
    }
    const report: ImportReport = {
      source: o.source,
      dryRun: o.dryRun === true,
      read: 0,
      created: 0,
      alreadyImported: 0,
      skipped: [],
      invalid: 0,
      matchedOwners: [],
      createdOwners: [],
      heldOwners: [],
      scopes: { read: 0, agentic: 0, write: 0, admin: 0 },
      revoked: 0,
      expired: 0,
    };
    const owners = new Map<string, Owner | null>();
    const perOrg = new Map<string, number>();
    let batch: SourceRecord[] = [];
    const progress: Progress = { share: 0 };
    for await (const record of readSource(o.source, o.file, progress)) {
      batch.push(record);
      report.read++;
      if (batch.length >= BATCH) {
        await this.#batch(batch, environment, owners, perOrg, report, o);
        batch = [];
        o.onProgress?.(report.read, progress.share);
      }
    }
    if (batch.length > 0) await this.#batch(batch, environment, owners, perOrg, report, o);
    o.onProgress?.(report.read, 1);
    if (report.created > 0 && !report.dryRun) this.deps.imported?.mark();
    // Each organization's log says that keys arrived, and from where: one event per organization and run.
    for (const [orgId, count] of perOrg) {
      await this.deps.audit.system(orgId, 'import', 'keys.imported', null, {
        source: o.source,
        count,
        by: o.by ?? 'keyward-server admin import',
      });
    }
    return report;
  }

  async #batch(
    records: SourceRecord[],
    environment: string,
    owners: Map<string, Owner | null>,
    perOrg: Map<string, number>,
    report: ImportReport,
    o: ImportOptions,
  ) {
    const { store, config, clock } = this.deps;
    const now = clock.now();
    const skip = (r: SourceRecord, reason: string) => {
      report.invalid++;
      if (report.skipped.length < 100) report.skipped.push({ record: r.n, where: r.where, reason });
    };
    // keyward's own HMAC (an export of a server with the same secret) is stored as it is; another product's
    // SHA-256 is stored marked until the key's first use. A key is there already when its hash is, or, once it
    // was used here, its import reference.
    const ready: { record: SourceRecord; owner: string; hash: string; ref: string }[] = [];
    for (const r of records) {
      const owner = r.owner?.trim().toLowerCase();
      if (!owner) {
        skip(r, 'no owner (e-mail or external id)');
        continue;
      }
      const hex = r.hash ? sha256HexOf(r.hash, r.hashFormat) : null;
      if (!hex) {
        skip(r, r.hash ? `the hash is not a SHA-256 in ${r.hashFormat ?? 'hex or base64'}` : 'no hash');
        continue;
      }
      if (r.scope && !isScope(r.scope)) {
        skip(r, `scope ${r.scope} is not read, agentic, write or admin`);
        continue;
      }
      if (r.environment && !config.environments.some((e) => e.name === r.environment)) {
        skip(r, `environment ${r.environment} is not one of this server's (${config.environments.map((e) => e.name).join(', ')})`);
        continue;
      }
      const hash = r.hashFormat === 'hmac-sha256-hex' ? hex : importedHash(hex);
      ready.push({ record: r, owner, hash, ref: importRefOf(config.secret, hex) });
    }
    const known = await store.findImported(
      ready.map((x) => x.hash),
      ready.map((x) => x.ref),
    );
    const keys: ApiKey[] = [];
    const seen = new Set<string>();
    for (const { record: r, owner: email, hash, ref } of ready) {
      if (known.has(hash) || known.has(ref) || seen.has(hash)) {
        report.alreadyImported++;
        continue;
      }
      seen.add(hash);
      const owner = await this.#owner(email, owners, report, o, now);
      const role = owner?.role ?? 'admin';
      const asked = (r.scope as Scope | null) ?? scopeOfPermissions(r.permissions) ?? DEFAULT_KEY_SCOPE;
      const scope = lowerScope(asked, role);
      report.scopes[scope]++;
      if (!r.enabled) report.revoked++;
      else if (r.expiresAt !== null && r.expiresAt <= now) report.expired++;
      const id = sortableId('key', now, 9);
      const key: ApiKey = {
        id,
        orgId: owner?.orgId ?? '',
        createdBy: owner?.userId ?? '',
        name: importedKeyName(r.name ?? '') || `imported key ${r.n}`,
        environment: r.environment ?? environment,
        scope,
        tier: owner?.plan ?? config.defaultPlan,
        hash,
        prefix: r.prefix.slice(0, 32),
        last4: '',
        createdAt: r.createdAt ?? now,
        expiresAt: r.expiresAt,
        revokedAt: r.enabled ? null : now,
        lastUsedAt: r.lastUsedAt,
        ipAllowlist: [],
        metadata: r.metadata,
        rotatedFrom: null,
        rotatedTo: null,
        lineageId: id,
        leak: null,
        parentId: null,
        depth: 0,
        agent: null,
        budget: r.remaining,
        idleTimeoutSeconds: null,
        scopeRequest: null,
        requestsPerMinute: r.requestsPerMinute,
        monthlyRequests: null,
        resource: null,
        importedFrom: r.hashFormat === 'hmac-sha256-hex' ? 'keyward' : o.source,
      };
      keys.push(key);
    }
    if (o.dryRun) report.created += keys.length;
    else if (keys.length > 0) {
      const inserted = await store.insertImportedKeys(keys);
      // Counted per organization as asked (a key skipped by the insert is a rare race with another import).
      if (inserted > 0) for (const k of keys) perOrg.set(k.orgId, (perOrg.get(k.orgId) ?? 0) + 1);
      report.created += inserted;
      report.alreadyImported += keys.length - inserted;
    }
  }

  /**
   * A new claim link for an account an import made and nobody claimed yet (the first expired or was lost); the
   * earlier link stops working.
   */
  async newClaimLink(emailInput: string): Promise<Claim> {
    const { store, config, clock } = this.deps;
    const email = emailInput.trim().toLowerCase();
    // The owner's own unclaimed account, or the one holding their keys because their address had an account here.
    let user = await store.findUserByEmail(email);
    if (user?.passwordHash !== IMPORTED_ACCOUNT) user = await store.findUserByEmail(heldAddress(email));
    const member = user ? await store.findMemberByUser(user.id) : undefined;
    if (!user || !member || user.passwordHash !== IMPORTED_ACCOUNT) {
      throw new Error(`${email} is not an account an import made that is still unclaimed`);
    }
    const invite = newToken('kwi_');
    await store.setMemberInvite(member.id, invite.hash, clock.now() + CLAIM_TTL_MS);
    return { email, organizationId: member.orgId, link: claimLink(config, invite.token) };
  }

  /**
   * A signed-in account claims the keys a claim link holds: they move into its organization, created by it (so
   * capped by its role, as every key is), and the held organization and its unclaimed account are gone. The link is
   * the proof, a secret the operator sent to the keys' owner: whoever opens it signed in claims it, whatever their
   * address, if they are an admin of their organization (bringing keys in is an organization-wide act, as
   * inviting a member is). Once; an unknown, used or expired link is a 400.
   */
  async claim(token: string, into: Actor): Promise<{ keys: number; organizationId: string }> {
    const { store, clock, audit, invalidations } = this.deps;
    authorize(into, 'import.claim');
    const invalid = () => new KeywardError('invalid_request', 'The invitation is invalid or has expired.');
    const invited = token ? await store.findMemberByInvite(sha256(token)) : undefined;
    if (!invited?.userId || (invited.inviteExpiresAt ?? 0) <= clock.now() || invited.orgId === into.orgId) throw invalid();
    const account = await store.findUser(invited.userId);
    const org = await store.findOrganization(into.orgId);
    if (account?.passwordHash !== IMPORTED_ACCOUNT || !org) throw invalid();
    const keys = await store.claimImportedKeys(
      { memberId: invited.id, userId: account.id, orgId: invited.orgId, unclaimed: IMPORTED_ACCOUNT },
      { orgId: org.id, userId: into.userId, tier: org.plan },
    );
    if (keys === null) throw invalid();
    // Cached look-ups still name the held organization and its account: every instance drops them.
    await invalidations?.send({ type: 'org', orgId: invited.orgId });
    await audit.system(org.id, 'import', 'keys.claimed', null, { count: keys, by: into.userId });
    return { keys, organizationId: org.id };
  }

  /**
   * The organization a key's owner has here: their own (the one they are a member of) when the e-mail has an
   * account, else a new one with an account they claim with the link `onClaim` is given (an invitation to it). An
   * external id that is not an e-mail stands for `<id>@imported.invalid`, so re-imports find the same organization.
   */
  async #owner(raw: string, owners: Map<string, Owner | null>, report: ImportReport, o: ImportOptions, now: number): Promise<Owner | null> {
    const dryRun = o.dryRun === true;
    const onClaim = o.onClaim;
    const email = raw.includes('@') ? raw : `${raw.replace(/[^a-z0-9._-]/g, '-').slice(0, 64)}${EXTERNAL_ID_DOMAIN}`;
    if (owners.has(email)) return owners.get(email) ?? null;
    const { store, config } = this.deps;
    const found = await store.findUserByEmail(email);
    // keyward verifies no address, so an account's address proves nothing: keys go to an account by address only
    // when the operator vouches for every account's address, or to the account an earlier import made for this
    // owner. Otherwise they are held, like a new owner's, in an organization of their own for the claim link.
    const vouched = found !== undefined && (found.passwordHash === IMPORTED_ACCOUNT || o.matchExistingAccounts === true);
    const held = found !== undefined && !vouched;
    const address = held ? heldAddress(email) : email;
    const user = held ? await store.findUserByEmail(address) : found;
    const member = user ? await store.findMemberByUser(user.id) : undefined;
    let owner: Owner | null = null;
    if (user && member) {
      const org = await store.findOrganization(member.orgId);
      owner = { userId: user.id, orgId: member.orgId, plan: org?.plan ?? config.defaultPlan, role: member.role };
      (held ? report.heldOwners : report.matchedOwners).push(email);
    } else {
      (held ? report.heldOwners : report.createdOwners).push(email);
      if (!dryRun) {
        const userId = user?.id ?? newId('usr');
        const orgId = newId('org');
        const invite = newToken('kwi_');
        await store.createAccount({
          user: { id: userId, email: address, name: null, passwordHash: IMPORTED_ACCOUNT, createdAt: now },
          organization: { id: orgId, name: organizationNameFor(null, email), plan: config.defaultPlan, createdAt: now },
          member: {
            id: newId('mem'),
            orgId,
            userId,
            email: address,
            role: 'admin',
            inviteTokenHash: invite.hash,
            inviteExpiresAt: now + CLAIM_TTL_MS,
            invitedBy: null,
            createdAt: now,
            joinedAt: now,
          },
        });
        owner = { userId, orgId, plan: config.defaultPlan, role: 'admin' };
        onClaim?.({ email, organizationId: orgId, link: claimLink(config, invite.token) });
      }
    }
    owners.set(email, owner);
    return owner;
  }
}

function claimLink(config: KeywardConfig, token: string): string {
  return `${config.publicUrl}/signup?invite_token=${encodeURIComponent(token)}`;
}

/** The first five of a list of addresses, and an ellipsis when there are more. */
const firstFive = (list: readonly string[]) => `${list.slice(0, 5).join(', ')}${list.length > 5 ? ', …' : ''}`;

/** A report as a person reads it: what was (or would be) created, mapped and skipped, and why. */
export function describeReport(r: ImportReport): string[] {
  const would = r.dryRun ? 'would be ' : '';
  const lines = [
    `${r.dryRun ? 'Dry run (nothing written): ' : ''}${r.read} records read from ${r.source}.`,
    `${r.created} keys ${would}created (scopes: ${
      Object.entries(r.scopes)
        .filter(([, n]) => n > 0)
        .map(([s, n]) => `${s} ${n}`)
        .join(', ') || 'none'
    }${r.revoked ? `; ${r.revoked} disabled at the source, ${would}revoked` : ''}${r.expired ? `; ${r.expired} already expired` : ''}).`,
    `${r.alreadyImported} already imported by an earlier run: skipped.`,
    `Owners: ${r.matchedOwners.length} matched to existing accounts${r.matchedOwners.length ? ` (${firstFive(r.matchedOwners)})` : ''}; ${r.createdOwners.length} ${would}given a new organization${r.createdOwners.length ? ` (${firstFive(r.createdOwners)})` : ''}.`,
  ];
  if (r.heldOwners.length > 0) {
    lines.push(
      `${r.heldOwners.length === 1 ? '1 owner has' : `${r.heldOwners.length} owners have`} an account here by address (${firstFive(r.heldOwners)}): keyward verifies no address, so their keys ${r.dryRun ? 'would be' : 'are'} held for the claim link (an account claims them by opening it signed in); --match-existing-accounts puts them in those accounts if you vouch for every account's address.`,
    );
  }
  if (r.read === 0)
    lines.push(`The file has no records for --from ${r.source}: see \`keyward-server admin import --help\` for what it reads.`);
  if (r.invalid > 0) {
    lines.push(`${r.invalid} ${r.invalid === 1 ? 'record' : 'records'} skipped:`);
    for (const s of r.skipped) lines.push(`  ${s.where}: ${s.reason}`);
    if (r.invalid > r.skipped.length) lines.push(`  … and ${r.invalid - r.skipped.length} more`);
  }
  return lines;
}
