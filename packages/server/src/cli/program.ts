import { Command, InvalidArgumentError, Option } from 'commander';
import { startServer } from '../serve.js';
import { adminCommands, columns } from './admin-commands.js';
import { ManagementClient } from './management-client.js';

interface KeyJson {
  id: string;
  name: string;
  display: string;
  environment: string;
  scope: string;
  status: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  raw_key?: string;
}

const port = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is a whole number from 0 to 65535');
  return n;
};

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 200) throw new InvalidArgumentError('a whole number from 1 to 200');
  return n;
};

/** The server and admin key for `keyward keys`: flags first, then KEYWARD_SERVER / KEYWARD_API_KEY. Never a key as an argument. */
function management(options: { server?: string }, env: NodeJS.ProcessEnv): ManagementClient {
  const server = options.server ?? env.KEYWARD_SERVER ?? 'http://127.0.0.1:8787';
  const key = env.KEYWARD_API_KEY;
  if (!key) {
    throw new Error(
      'keyward keys needs an admin-scoped key in KEYWARD_API_KEY (create one in the dashboard or with POST /api/developers/keys).',
    );
  }
  return new ManagementClient(server, key);
}

/** A time as the table shows every time: `2026-12-03 07:12` (UTC). */
const minute = (iso: string) => iso.slice(0, 16).replace('T', ' ');

function table(keys: KeyJson[]): string {
  return columns([
    ['ID', 'NAME', 'KEY', 'ENV', 'SCOPE', 'STATUS', 'CREATED (UTC)', 'LAST USED (UTC)'],
    ...keys.map((k) => [
      k.id,
      k.name,
      k.display,
      k.environment,
      k.scope,
      k.status,
      minute(k.created_at),
      k.last_used_at ? minute(k.last_used_at) : '-',
    ]),
  ]);
}

/** The server's commands: run it, manage keys on a running one, operate on its storage. */
export function buildServerProgram(
  env: NodeJS.ProcessEnv = process.env,
  out: (s: string) => void = (s) => void process.stdout.write(`${s}\n`),
): Command {
  const program = new Command('keyward-server')
    .description('the keyward server: run it, manage its keys, operate on its storage')
    .version('0.1.0');

  program
    .command('serve')
    .description('run the keyward server (SQLite in ./.keyward unless KEYWARD_DATABASE_URL is set)')
    .option('--port <port>', 'port to listen on', port, 8787)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--data-dir <dir>', 'data folder (SQLite file, server secret)', './.keyward')
    .option('--config <file>', 'JSON config file (or KEYWARD_CONFIG; default ./keyward.config.json when present)')
    .option('--allow-retire', 'start even though active keys belong to environments no longer configured (they are retired)')
    .action(async (o: { port: number; host: string; dataDir: string; config?: string; allowRetire?: boolean }) => {
      await startServer(
        {
          port: o.port,
          host: o.host,
          dataDir: o.dataDir,
          ...(o.config ? { config: o.config } : {}),
          ...(o.allowRetire ? { allowRetire: true } : {}),
        },
        out,
      );
    });

  const keys = program.command('keys').description('manage keys on a running server (admin key in KEYWARD_API_KEY)');
  const server = new Option('--server <url>', 'keyward server (or KEYWARD_SERVER)');
  const json = new Option('--json', 'print JSON');

  keys
    .command('create')
    .description('create a key; its raw value is printed once')
    .requiredOption('--name <name>', 'what the key is for, e.g. production-agent')
    .option('--scope <scope>', 'read, agentic, write or admin')
    .option('--environment <env>', 'environment, e.g. test or live')
    .option('--tier <tier>', 'plan tier for its limits')
    .option('--expires-at <iso>', 'expiry, ISO 8601')
    .option('--ip <cidr...>', 'allowed IPs or CIDRs')
    .addOption(server)
    .addOption(json)
    .action(async (o) => {
      const body = {
        name: o.name,
        ...(o.scope ? { scope: o.scope } : {}),
        ...(o.environment ? { environment: o.environment } : {}),
        ...(o.tier ? { tier: o.tier } : {}),
        ...(o.expiresAt ? { expires_at: o.expiresAt } : {}),
        ...(o.ip ? { ip_allowlist: o.ip } : {}),
      };
      const { key } = await management(o, env).request<{ key: KeyJson }>('POST', '/api/developers/keys', body);
      if (o.json) return out(JSON.stringify(key, null, 2));
      out(`Created ${key.id} (${key.name}, ${key.environment}, scope ${key.scope}).`);
      out('Copy this key now; it will not be shown again:');
      out(`  ${key.raw_key}`);
    });

  keys
    .command('list')
    .description("list the organization's keys")
    .option('--environment <env>', 'only this environment')
    .option('--limit <n>', 'keys per page (1-200)', positiveInt, 50)
    .option('--cursor <cursor>', 'start at this page (the cursor printed after a page)')
    .option('--all', 'follow every page')
    .addOption(server)
    .addOption(json)
    .action(async (o) => {
      const client = management(o, env);
      const list: KeyJson[] = [];
      let cursor: string | null = o.cursor ?? null;
      do {
        const q = new URLSearchParams({ limit: String(Math.min(200, o.limit)) });
        if (o.environment) q.set('environment', o.environment);
        if (cursor) q.set('cursor', cursor);
        const page = await client.request<{ keys: KeyJson[]; next_cursor: string | null }>('GET', `/api/developers/keys?${q}`);
        list.push(...page.keys);
        cursor = page.next_cursor;
      } while (o.all && cursor);
      if (o.json) return out(JSON.stringify(list, null, 2));
      out(list.length ? table(list) : 'No keys yet.');
      if (cursor) out(`More keys follow: run again with --cursor ${cursor} (or --all).`);
    });

  keys
    .command('revoke <id>')
    .description('revoke a key, at once and for good')
    .addOption(server)
    .action(async (id: string, o) => {
      const r = await management(o, env).request<{ message: string; key: KeyJson }>(
        'DELETE',
        `/api/developers/keys/${encodeURIComponent(id)}`,
      );
      out(`${r.message}: ${r.key.id} (${r.key.display})`);
    });

  keys
    .command('rotate <id>')
    .description('mint a successor; the old key keeps working for the grace period')
    .option('--grace <seconds>', 'grace period in seconds (0 revokes the old key now)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('whole seconds, 0 or more');
      return n;
    })
    .addOption(server)
    .addOption(json)
    .action(async (id: string, o) => {
      const r = await management(o, env).request<{ key: KeyJson; previous: KeyJson }>(
        'POST',
        `/api/developers/keys/${encodeURIComponent(id)}/rotate`,
        o.grace === undefined ? {} : { grace_period_seconds: o.grace },
      );
      if (o.json) return out(JSON.stringify(r, null, 2));
      out(`Rotated ${r.previous.id}; it ${r.previous.status === 'revoked' ? 'is revoked' : `works until ${r.previous.expires_at}`}.`);
      out(`New key ${r.key.id}. Copy it now; it will not be shown again:`);
      out(`  ${r.key.raw_key}`);
    });

  adminCommands(program, out);
  return program;
}

/** `keyward-server …`, or `keyward serve|admin|keys …` handed over by the agent CLI. */
export async function serverMain(argv: string[]): Promise<void> {
  await buildServerProgram().parseAsync(argv);
}
