import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, openSync, writeSync } from 'node:fs';
import type { Command } from 'commander';
import { AuditLog } from '../audit/audit-log.js';
import { RedisBus } from '../cache/redis-bus.js';
import { Environments } from '../config/environments.js';
import { loadConfig } from '../config/load-config.js';
import { systemClock } from '../ids.js';
import { CSV_HEADER, csvLine, exportKeys } from '../import/exporter.js';
import { describeReport, Importer } from '../import/importer.js';
import { IMPORT_SOURCES, type ImportSource } from '../import/sources.js';
import { createLogger } from '../logger.js';
import { connectRedis } from '../redis/client.js';
import { openStore } from '../storage/open-store.js';

/** Rows as aligned columns, two spaces apart, the first row the header: the CLI's tables. */
export function columns(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * `keyward-server admin …`: operator commands that work on the server's own storage (same `--data-dir`, `--config` and
 * environment variables as `keyward-server serve`), for the provider who runs keyward.
 */
export function adminCommands(program: Command, out: (line: string) => void): void {
  const admin = program.command('admin').description("operate on the server's storage directly (same flags and variables as serve)");
  const storage = (cmd: Command) =>
    cmd.option('--data-dir <dir>', 'data folder', './.keyward').option('--config <file>', 'JSON config file (or KEYWARD_CONFIG)');

  const open = async (o: { dataDir: string; config?: string }) => {
    const config = loadConfig({ dataDir: o.dataDir, ...(o.config ? { config: o.config } : {}) });
    const store = openStore(config);
    await store.migrate();
    return { config, store };
  };

  admin
    .command('verifier-credential')
    .description('make a verifier credential: lets a gateway or remote verifier pass ip and path to /v1/keys/verify')
    .option('--name <name>', 'what it is for, e.g. edge-gateway', 'verifier')
    .action((o: { name: string }) =>
      printCredential(
        out,
        'kwv_',
        o.name,
        "Verifier credential (shown once; keep it in the verifier's secrets, e.g. KEYWARD_VERIFIER_CREDENTIAL):",
        'verifier_credentials',
      ),
    );

  admin
    .command('operator-credential')
    .description('make an operator credential: lets a script call the admin API (POST /api/admin/import)')
    .option('--name <name>', 'what it is for, e.g. migration', 'operator')
    .action((o: { name: string }) =>
      printCredential(out, 'kwo_', o.name, "Operator credential (shown once; keep it in the operator's secrets):", 'operator_credentials'),
    );

  storage(admin.command('orgs').description('list organizations with their plan, members and active keys')).action(async (o) => {
    const { config, store } = await open(o);
    try {
      // Keys of environments the config no longer has are retired: not counted, here as in the server.
      const orgs = await store.listOrganizations(Date.now(), new Environments(config.environments).servedNames);
      if (orgs.length === 0) return out('No organizations yet.');
      out(
        columns([
          ['ID', 'NAME', 'PLAN', 'MEMBERS', 'ACTIVE KEYS'],
          ...orgs.map((g) => [g.id, g.name, g.plan, String(g.members), String(g.activeKeys)]),
        ]),
      );
    } finally {
      await store.close();
    }
  });

  storage(
    admin
      .command('set-plan')
      .description('move an organization to another plan; its keys on the old plan move too')
      .argument('<org-id>', 'organization id (see `keyward-server admin orgs`)')
      .argument('<plan>', 'a plan from the config'),
  ).action(async (orgId: string, plan: string, o) => {
    const { config, store } = await open(o);
    try {
      if (!config.plans[plan]) throw new Error(`no plan "${plan}"; plans: ${config.planOrder.join(', ')}`);
      const previous = await store.setOrganizationPlan(orgId, plan);
      if (previous === undefined) throw new Error(`no organization ${orgId}`);
      if (config.redisUrl) {
        const redis = await connectRedis(config.redisUrl);
        await new RedisBus(redis, createLogger('silent')).publish({ type: 'org', orgId });
        redis.disconnect();
      }
      out(`${orgId}: ${previous} → ${plan}.`);
      out(
        config.redisUrl
          ? 'Running servers were told over Redis and apply it at once.'
          : `A running server applies it within its cache TTL (${config.cache.ttlMs / 1000} s).`,
      );
    } finally {
      await store.close();
    }
  });

  storage(
    admin
      .command('clients')
      .description('list the OAuth clients that registered by themselves (RFC 7591: MCP clients); --revoke one')
      .option('--revoke <client-id>', 'revoke a registration: its sign-ins stop (keys it already got stay until revoked)')
      .option('--limit <n>', 'how many, newest first', '50'),
  ).action(async (o) => {
    const { store } = await open(o);
    try {
      if (o.revoke) {
        if (!(await store.revokeClient(o.revoke, Date.now()))) throw new Error(`no active registration ${o.revoke}`);
        return out(`${o.revoke}: registration revoked; it can no longer sign in.`);
      }
      const clients = await store.listClients({ limit: Math.min(200, Math.max(1, Number(o.limit) || 50)) });
      if (clients.length === 0) return out('No registered clients.');
      out(
        columns([
          ['CLIENT ID', 'NAME', 'REDIRECT URIS', 'REGISTERED', 'FROM', 'STATUS'],
          ...clients.map((c) => [
            c.clientId,
            c.name,
            c.redirectUris.join(' '),
            new Date(c.createdAt).toISOString(),
            c.createdIp,
            c.revokedAt === null ? 'active' : 'revoked',
          ]),
        ]),
      );
    } finally {
      await store.close();
    }
  });

  storage(
    admin
      .command('import')
      .description('take over keys another product issued, without re-issuing them (see docs/import.md)')
      .requiredOption('--from <source>', `where the keys come from: ${IMPORT_SOURCES.join(', ')}`)
      .argument(
        '<file>',
        "better-auth: its SQLite database file, or its apikey rows (with email) as JSON, JSON lines or CSV; unkey: migrateKeys / createKeys JSON, or CSV; csv: keyward's CSV",
      )
      .option('--dry-run', 'read and map everything, write nothing, print what would be created and skipped')
      .option('--environment <env>', 'the environment the keys get (default: the first configured)')
      .option('--claims <file>', "write each new owner's claim link here (CSV: email,organization_id,claim_link; mode 0600)")
      .option(
        '--match-existing-accounts',
        'you vouch for the address of every account on this server: an owner with an account gets the keys in it (default: held for the claim link, as keyward verifies no address)',
      )
      .addHelpText(
        'after',
        `\nkeyward's CSV (--from csv), one key per row, a header first:\n  ${CSV_HEADER}\n` +
          'hash_format: sha256-hex, sha256-base64 or sha256-base64url (the SHA-256 of the raw key as stored), or\n' +
          "hmac-sha256-hex (keyward's own, from `admin export` of a server with the same KEYWARD_SECRET).\n" +
          'Owners are found by e-mail (an external id stands for <id>@imported.invalid); a new owner gets an organization\n' +
          'and an account claimed with the link --claims writes (or `admin claim-link --email`). An owner whose address\n' +
          'has an account here gets a claim link too (keyward verifies no address, so an address proves nothing): their\n' +
          'keys are held in an organization of their own until someone opens the link signed in, or signs up with it.\n' +
          '--match-existing-accounts puts them in that account at once. Re-running an import skips what is there.',
      ),
  ).action(async (file: string, o) => {
    if (!(IMPORT_SOURCES as readonly string[]).includes(o.from)) throw new Error(`--from must be one of ${IMPORT_SOURCES.join(', ')}`);
    const { config, store } = await open(o);
    const tty = process.stderr.isTTY === true;
    const started = Date.now();
    const claims = o.claims ? secretFile(o.claims) : null;
    if (claims !== null) writeSync(claims, 'email,organization_id,claim_link\n');
    let newOwners = 0;
    try {
      const report = await new Importer({ store, config, clock: systemClock, audit: new AuditLog(store, systemClock) }).run({
        source: o.from as ImportSource,
        file,
        dryRun: o.dryRun === true,
        matchExistingAccounts: o.matchExistingAccounts === true,
        ...(o.environment ? { environment: o.environment } : {}),
        onProgress: (read, share) => {
          if (tty) process.stderr.write(`\r${progressBar(share, read, (Date.now() - started) / 1000)}`);
        },
        onClaim: (c) => {
          newOwners++;
          if (claims !== null) writeSync(claims, `${csvLine([c.email, c.organizationId, c.link])}\n`);
        },
      });
      if (tty) process.stderr.write('\n');
      for (const line of describeReport(report)) out(line);
      if (newOwners > 0) {
        out(
          claims !== null
            ? `Claim links of the ${newOwners} new (or held) owners are in ${o.claims}: send each owner theirs (they work 30 days).`
            : `${newOwners} new owners have an account to claim: \`keyward-server admin claim-link --email <address>\` gives the link to send each (or import with --claims <file>).`,
        );
      }
      out(`Took ${((Date.now() - started) / 1000).toFixed(1)} s.`);
    } finally {
      if (claims !== null) closeSync(claims);
      await store.close();
    }
  });

  storage(
    admin
      .command('claim-link')
      .description('a new claim link for the account an import made for a new owner (the earlier link stops working)')
      .requiredOption('--email <address>', "the owner's address (or <external id>@imported.invalid)"),
  ).action(async (o) => {
    const { config, store } = await open(o);
    try {
      const claim = await new Importer({ store, config, clock: systemClock, audit: new AuditLog(store, systemClock) }).newClaimLink(
        o.email,
      );
      out(`Send this link to ${claim.email} (it works 30 days; it signs up into organization ${claim.organizationId}):`);
      out(`  ${claim.link}`);
    } finally {
      await store.close();
    }
  });

  storage(
    admin
      .command('export')
      .description("write keys back out in keyward's import CSV (hashes only, never a raw key), to leave as easily as to come")
      .option('--org <org-id>', 'only this organization')
      .option('--output <file>', 'write the CSV here (mode 0600) instead of to standard output'),
  ).action(async (o) => {
    const { store } = await open(o);
    const fd = o.output ? secretFile(o.output) : null;
    try {
      const count = await exportKeys(store, fd === null ? out : (line) => writeSync(fd, `${line}\n`), o.org);
      if (fd !== null) out(`${count} keys written to ${o.output}.`);
    } finally {
      if (fd !== null) closeSync(fd);
      await store.close();
    }
  });
}

/** `[██████░░░░]  62%  620,000 records  37.1 s`: where a long import is. */
export function progressBar(share: number, read: number, seconds: number): string {
  const width = 24;
  const done = Math.max(0, Math.min(width, Math.round(share * width)));
  const percent = `${Math.floor(Math.max(0, Math.min(1, share)) * 100)}%`.padStart(4);
  return `[${'█'.repeat(done)}${'░'.repeat(width - done)}] ${percent}  ${read.toLocaleString('en-US')} records  ${seconds.toFixed(1)} s`;
}

/** A file for secrets (claim links, hashes), readable by its owner only even when it was there before. */
function secretFile(path: string): number {
  const fd = openSync(path, 'w', 0o600);
  fchmodSync(fd, 0o600);
  return fd;
}

/** A new credential, shown once, and the config line that lists its SHA-256 (never the credential itself). */
function printCredential(out: (line: string) => void, prefix: string, name: string, intro: string, field: string): void {
  const credential = `${prefix}${randomBytes(32).toString('base64url')}`;
  const sha256 = createHash('sha256').update(credential).digest('hex');
  out(intro);
  out(`  ${credential}`);
  out(`Add this to "${field}" in the server's config file and restart (only its hash is stored):`);
  out(`  ${JSON.stringify({ name, sha256 })}`);
}
