import { spawn } from 'node:child_process';
import { explainError, explainingFetch } from '@keyward/core';
import {
  accountFor,
  type DeriveOptions,
  deriveKey,
  findKey,
  login,
  osSecretStore,
  Profiles,
  providerNamed,
  requestScope,
  revokeOwnKey,
  ScopeRequestError,
  SecretStoreUnavailableError,
} from '@keyward/sdk';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { progressOn } from './progress.js';
import { readSecret } from './read-secret.js';

type Out = (line: string) => void;

interface WhoamiBody {
  id?: string;
  name?: string;
  environment?: string;
  scope?: string;
  organization?: { id?: string; name?: string };
  limits?: { requests_per_minute?: number | null; monthly_requests?: number | null };
  error?: { message: string; hint?: string; required_scope?: string; key_scope?: string };
}

const seconds = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('whole seconds, more than 0');
  return n;
};

/** A lifetime: whole seconds, or with a unit (`90s`, `10m`, `2h`, `7d`). */
export function duration(v: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(v.trim());
  const n = m ? Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'] : Number.NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('a lifetime such as 600, 90s, 10m, 2h or 7d');
  return n;
}

const credits = (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('whole credits, 0 or more');
  return n;
};

/** The `--derive` options of `token` and `exec`: a child key instead of the stored one. */
function withDeriveOptions(command: Command): Command {
  return command
    .option('--derive', 'use a fresh child key of the stored one (narrower scope, short life, own budget)')
    .option('--scope <scope>', "with --derive: read, agentic, write or admin, at most the stored key's")
    .option('--ttl <lifetime>', 'with --derive: how long the child key works, e.g. 600, 10m, 2h', duration)
    .option('--budget <credits>', 'with --derive: credits the child key may spend', credits)
    .option('--agent <name>', 'with --derive: the agent the child key is for (its label in usage and audit)');
}

const deriveOptionsOf = (o: { scope?: string; ttl?: number; budget?: number; agent?: string }): DeriveOptions => ({
  ...(o.scope !== undefined ? { scope: o.scope } : {}),
  ...(o.ttl !== undefined ? { ttl: o.ttl } : {}),
  ...(o.budget !== undefined ? { budget: o.budget } : {}),
  ...(o.agent !== undefined ? { agent: o.agent } : {}),
});

/** `login`, `logout`, `whoami`, `token`, `exec`: what an agent (or its person) runs. The key is never an argument. */
export function agentCommands(program: Command, env: NodeJS.ProcessEnv, out: Out, err: Out): void {
  const serverOpt = () => new Option('--server <url>', 'keyward server (or KEYWARD_SERVER)');
  const providerOpt = () =>
    new Option('--provider <name>', 'keyward, or nevermined for its ?nvm_api_key= flow')
      .choices(['keyward', 'nevermined'])
      .default('keyward');
  // The server named, else KEYWARD_SERVER, else the one last signed in to (like gh's default host), else the default.
  const serverOf = (o: { server?: string; provider: string }) =>
    o.server ??
    (o.provider === 'keyward' ? env.KEYWARD_SERVER : undefined) ??
    new Profiles().lastServer(o.provider) ??
    providerNamed(o.provider).defaultServer;

  program
    .command('login')
    .description('get a key with one sign-in in the browser and keep it in the OS secret store')
    .addOption(serverOpt())
    .option('--environment <env>', 'environment of the key (e.g. test, live, sandbox)')
    .option('--name <name>', 'name of the key, e.g. billing-agent')
    .option('--scope <scope>', 'read, agentic, write or admin')
    .option('--device', 'device flow: approve on any device with a short code')
    .option('--manual', 'paste a key made in the dashboard (hidden input, or standard input)')
    .option('--stdout', 'keep nothing: hand the key once to a pipe (e.g. into a secrets manager); refused to a terminal')
    .option('--no-browser', 'print the URL, do not open a browser')
    .option('--timeout <seconds>', 'how long to wait for the sign-in', seconds, 300)
    .option('--api-base <url>', 'API base the key is checked against (Nevermined preset)')
    .addOption(providerOpt())
    .action(async (o) => {
      const provider = providerNamed(o.provider);
      if (o.stdout && process.stdout.isTTY) {
        throw new Error(
          'refusing to print a key to a terminal (it would stay in the scrollback): pipe it, e.g. keyward login --stdout | your-secrets-manager',
        );
      }
      try {
        const { profile, key } = await login({
          provider,
          server: serverOf(o),
          ...(o.environment ? { environment: o.environment } : {}),
          ...(o.name ? { name: o.name } : {}),
          ...(o.scope ? { scope: o.scope } : {}),
          mode: o.manual ? 'manual' : o.device ? 'device' : 'loopback',
          openBrowser: o.browser !== false,
          timeoutMs: o.timeout * 1000,
          ...(o.apiBase ? { apiBase: o.apiBase } : {}),
          say: err,
          waiting: progressOn(process.stderr),
          readSecret: () => readSecret(),
          pasteFromPipe: !process.stdin.isTTY,
          ...(o.stdout ? { keep: 'return' as const } : {}),
        });
        if (key !== undefined) {
          // The key once, to the pipe; everything for the person goes to stderr.
          process.stdout.write(`${key}\n`);
          err(`Signed in. Key ${profile.display} (${profile.environment}) went to standard output; keyward kept nothing.`);
          return;
        }
        out(`Signed in. Key ${profile.display} (${profile.environment}) is in the OS secret store.`);
        out(`Use it: keyward exec -- <command>   (sets ${provider.envVar}), or the SDK's createClient().`);
      } catch (error) {
        if (error instanceof SecretStoreUnavailableError) {
          err(error.message);
          process.exitCode = 3;
          return;
        }
        throw error;
      }
    });

  const found = async (o: { server?: string; provider: string; environment?: string }) => {
    const provider = providerNamed(o.provider);
    const key = await findKey({ provider, server: serverOf(o), env, ...(o.environment ? { environment: o.environment } : {}) });
    if (!key)
      throw new Error(
        `no key found: run \`keyward login${o.provider === 'keyward' ? '' : ` --provider ${o.provider}`}\` or set ${provider.envVar}`,
      );
    return { provider, ...key };
  };

  program
    .command('whoami')
    .description('check the stored key against the server: which key, environment, scope and limits')
    .addOption(serverOpt())
    .option('--environment <env>', 'which stored key')
    .option('--api-base <url>', 'API base (Nevermined preset)')
    .addOption(providerOpt())
    .action(async (o) => {
      const { provider, key, source } = await found(o);
      const server = serverOf(o);
      const res = await explainingFetch(fetch, 'Is the server running? Name it with --server or KEYWARD_SERVER.')(
        provider.verifyUrl(server, o.environment ?? '', o.apiBase),
        { headers: { authorization: `Bearer ${key}` } },
      );
      const body = (await res.json().catch(() => ({}))) as WhoamiBody;
      if (!res.ok)
        throw new Error(
          `the key does not work: ${res.status} ${body.error ? explainError({ ...body.error, message: String(body.error.message ?? '') }) : ''}`.trim(),
        );
      if (provider.name !== 'keyward')
        return out(`The key from the ${source} works against ${provider.verifyUrl(server, o.environment ?? '', o.apiBase)}.`);
      out(
        `${body.name} (${body.id}) — ${body.environment}, scope ${body.scope}, organization ${body.organization?.name ?? body.organization?.id}`,
      );
      const l = body.limits ?? {};
      out(`limits: ${l.requests_per_minute ?? 'unlimited'}/min, ${l.monthly_requests ?? 'unlimited'}/month; key from the ${source}`);
    });

  /** A child key of the stored one, derived at the server it came from (keyward servers only). */
  const derived = async (o: {
    server?: string;
    provider: string;
    environment?: string;
    scope?: string;
    ttl?: number;
    budget?: number;
    agent?: string;
  }) => {
    const { provider, key } = await found(o);
    if (provider.name !== 'keyward') throw new Error(`--derive needs a keyward server; ${provider.name} keys cannot derive child keys`);
    return deriveKey(serverOf(o), key, deriveOptionsOf(o));
  };
  const deriveOnly = (o: { derive?: boolean; scope?: string; ttl?: number; budget?: number; agent?: string }) => {
    const stray = (['scope', 'ttl', 'budget', 'agent'] as const).find((f) => o[f] !== undefined);
    if (!o.derive && stray) throw new Error(`--${stray} goes with --derive (a child key); the stored key is used as it is`);
  };

  withDeriveOptions(
    program
      .command('token')
      .description('print the key (or, with --derive, a fresh child key), to a pipe only (e.g. `keyward token | other-tool`)')
      .addOption(serverOpt())
      .option('--environment <env>', 'which stored key')
      .option('--force', 'print even to a terminal')
      .addOption(providerOpt()),
  ).action(async (o) => {
    if (process.stdout.isTTY && !o.force) {
      throw new Error('refusing to print a key to a terminal (it would stay in the scrollback); pipe it, or pass --force');
    }
    deriveOnly(o);
    if (o.derive) {
      const child = await derived(o);
      err(
        `keyward: child key ${child.id} (${child.scope}, ${child.expiresAt ? `until ${child.expiresAt}` : 'no expiry'}${child.budget !== null ? `, budget ${child.budget}` : ''})`,
      );
      process.stdout.write(`${child.key.reveal()}\n`);
      return;
    }
    const { key } = await found(o);
    process.stdout.write(`${key}\n`);
  });

  withDeriveOptions(
    program
      .command('exec')
      .description('run a command with the key (or, with --derive, a child key revoked when it exits) in its environment')
      .addOption(serverOpt())
      .option('--environment <env>', 'which stored key')
      .addOption(providerOpt())
      .argument('<command...>', 'the command, after --'),
  ).action(async (command: string[], o) => {
    deriveOnly(o);
    const { provider, key } = await found(o);
    const child = o.derive ? await derived(o) : null;
    if (child) err(`keyward: running with child key ${child.id} (${child.scope}); it is revoked when the command exits`);
    const [cmd, ...args] = command;
    const proc = spawn(cmd as string, args, {
      stdio: 'inherit',
      env: { ...env, [provider.envVar]: child ? child.key.reveal() : key },
      shell: false,
    });
    // Ctrl-C and termination reach the command (same process group for the terminal); keyward waits for it to
    // exit, so the child key is revoked either way.
    const forward = (signal: NodeJS.Signals) => () => void proc.kill(signal);
    const onInt = forward('SIGINT');
    const onTerm = forward('SIGTERM');
    if (child) process.on('SIGINT', onInt).on('SIGTERM', onTerm);
    const code = await new Promise<number>((ok) => {
      proc.on('error', (e) => {
        err(`keyward: cannot run ${cmd}: ${e.message}`);
        ok(127);
      });
      proc.on('exit', (c, signal) => ok(c ?? (signal ? 128 : 1)));
    });
    process.off('SIGINT', onInt).off('SIGTERM', onTerm);
    if (child) {
      const outcome = await child.revoke();
      if (!outcome.revoked)
        err(
          `keyward: could not revoke child key ${child.id} (${outcome.reason}); it expires at ${child.expiresAt ?? "its parent's expiry"}`,
        );
    }
    process.exitCode = code;
  });

  program
    .command('request-scope')
    .description('ask a person for a wider scope (they approve on the Requests page); the new key replaces the stored one')
    .argument('<scope>', 'read, agentic, write or admin: above the stored key’s')
    .requiredOption('--reason <text>', 'why the agent needs it, shown to the approver (at most 200 characters)')
    .addOption(serverOpt())
    .option('--environment <env>', 'which stored key asks')
    .option('--resource <url>', 'the API the new key is for (RFC 8707)')
    .option('--timeout <seconds>', 'how long to wait for the decision (default: as long as the request lives)', seconds)
    .action(async (scope: string, o) => {
      const { key, account } = await found({ ...o, provider: 'keyward' });
      const server = new URL(serverOf({ ...o, provider: 'keyward' })).origin;
      let done: () => void = () => {};
      try {
        const grant = await requestScope(server, key, {
          scope,
          reason: o.reason,
          ...(o.resource ? { resource: o.resource } : {}),
          ...(o.timeout ? { timeoutMs: o.timeout * 1000 } : {}),
          onPending: ({ expiresIn, approveAt }) => {
            err(`Asked for ${scope}. A person approves or denies it at ${approveAt} (the request lives ${expiresIn} s).`);
            done = progressOn(process.stderr)('Waiting for the decision…');
          },
        });
        done();
        // The new key takes the stored one's place for this server and environment (the old one keeps working).
        const target = account ?? accountFor('keyward', server, grant.environment);
        const profiles = new Profiles();
        const previous = profiles.get(target)?.display;
        await osSecretStore().set(target, grant.key.reveal());
        profiles.save(target, {
          provider: 'keyward',
          server,
          environment: grant.environment,
          keyId: grant.id,
          display: grant.display,
          savedAt: new Date().toISOString(),
        });
        const who = grant.approvedBy
          ? `${grant.approvedBy.name ? `${grant.approvedBy.name} <${grant.approvedBy.email}>` : grant.approvedBy.email}`
          : 'a person';
        out(`Approved by ${who}: scope ${grant.scope}${grant.expiresAt ? `, until ${grant.expiresAt}` : ''}.`);
        out(
          `Key ${grant.display} (${grant.environment}) is in the OS secret store${previous ? `, replacing ${previous} (which keeps working as it was)` : ''}.`,
        );
      } catch (error) {
        done();
        if (error instanceof ScopeRequestError) {
          err(
            error.outcome === 'denied'
              ? 'Denied: the person did not approve the request. The stored key is unchanged.'
              : `${error.message}. The stored key is unchanged.`,
          );
          process.exitCode = 1;
          return;
        }
        if (error instanceof SecretStoreUnavailableError) {
          err(error.message);
          process.exitCode = 3;
          return;
        }
        throw error;
      }
    });

  program
    .command('logout')
    .description('remove the stored key from the OS secret store (--revoke: revoke it on the server first)')
    .addOption(serverOpt())
    .option('--environment <env>', 'which stored key')
    .option('--revoke', 'revoke the key on the server too')
    .addOption(providerOpt())
    .action(async (o) => {
      const provider = providerNamed(o.provider);
      const server = new URL(serverOf(o)).origin;
      const profiles = new Profiles();
      const environment = o.environment ?? profiles.defaultEnvironment(provider.name, server);
      if (!environment) return out('Not signed in.');
      const account = accountFor(provider.name, server, environment);
      const store = osSecretStore();
      const key = await store.get(account);
      if (o.revoke && key && provider.name === 'keyward') {
        const id = profiles.get(account)?.keyId;
        if (!id) throw new Error('the stored key has no id on record, so it cannot be revoked from here; revoke it in the dashboard');
        const outcome = await revokeOwnKey(server, id, key);
        if (!outcome.revoked) throw new Error(`could not revoke the key (${outcome.reason}); it is still stored and still works`);
        out(outcome.already ? 'The key no longer worked on the server (revoked or expired).' : 'Key revoked on the server.');
      }
      await store.delete(account);
      profiles.remove(account);
      out(key ? `Removed the ${environment} key for ${server} from the OS secret store.` : 'No stored key.');
    });
}
