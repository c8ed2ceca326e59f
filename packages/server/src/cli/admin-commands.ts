import { createHash, randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { RedisBus } from '../cache/redis-bus.js';
import { loadConfig } from '../config/load-config.js';
import { connectRedis } from '../limits/redis-client.js';
import { createLogger } from '../logger.js';
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
    // Keys of environments the config no longer has are retired: not counted, here as in the server.
    store.serveEnvironments(config.environments.map((e) => e.name));
    return { config, store };
  };

  admin
    .command('verifier-credential')
    .description('make a verifier credential: lets a gateway or remote verifier pass ip and path to /v1/keys/verify')
    .option('--name <name>', 'what it is for, e.g. edge-gateway', 'verifier')
    .action((o: { name: string }) => {
      const credential = `kwv_${randomBytes(32).toString('base64url')}`;
      const sha256 = createHash('sha256').update(credential).digest('hex');
      out("Verifier credential (shown once; keep it in the verifier's secrets, e.g. KEYWARD_VERIFIER_CREDENTIAL):");
      out(`  ${credential}`);
      out('Add this to "verifier_credentials" in the server\'s config file and restart (only its hash is stored):');
      out(`  ${JSON.stringify({ name: o.name, sha256 })}`);
    });

  storage(admin.command('orgs').description('list organizations with their plan, members and active keys')).action(async (o) => {
    const { store } = await open(o);
    try {
      const orgs = await store.listOrganizations(Date.now());
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
}
