import { findKey, Profiles } from '@keyward/sdk';
import { Command } from 'commander';
import { agentCommands } from './agent-commands.js';
import {
  checkFindings,
  findingLine,
  gitleaksConfig,
  reportLive,
  scanGit,
  scanPaths,
  scanSummary,
  serverEnvironments,
  toSarif,
  trufflehogConfig,
} from './scan.js';

/** Commands of the server package, handed over to `keyward-server` when it is installed beside this CLI. */
const SERVER_COMMANDS = new Set(['serve', 'admin', 'keys']);
/** Held in a variable so that neither TypeScript nor a bundler takes the server for a dependency of the CLI. */
const SERVER_CLI = '@keyward/server/cli';

/** The agent CLI: sign in, use and check the stored key, scan for leaked keys. No server inside. */
export function buildProgram(
  env: NodeJS.ProcessEnv = process.env,
  out: (s: string) => void = (s) => void process.stdout.write(`${s}\n`),
): Command {
  const program = new Command('keyward').description('API keys for APIs that AI agents call').version('0.1.0');
  program.addHelpText(
    'after',
    '\nWith the server package (@keyward/server) installed beside it, `keyward serve|admin|keys …` run `keyward-server serve|admin|keys …`.',
  );
  program
    .command('scan')
    .description(
      'find API keys (any prefix, checksum-verified) in files and folders, or the git history; exits 1 if a live key is found, 2 if something could not be read or checked',
    )
    .argument('[paths...]', 'files or folders (default: .)')
    .option('--git', 'scan the history of the git repository here (every blob of every branch and tag, once)')
    .option(
      '--check [server]',
      'ask the keyward server that issued them which keys are still live (only it can tell; default --server or KEYWARD_SERVER)',
    )
    .option('--report', 'with --check: report every live key found to that server as leaked (it revokes them, per its leaks.on_report)')
    .option('--format <format>', 'text or sarif (SARIF 2.1.0, for code-scanning uploads)', 'text')
    .option('--print-gitleaks-config', "print gitleaks rules for the server's key prefixes (--server or KEYWARD_SERVER)")
    .option('--print-trufflehog-config', "print TruffleHog custom detectors for the server's key prefixes")
    .option('--server <url>', 'the keyward server whose prefixes the printed configs use (or KEYWARD_SERVER)')
    .action(
      async (
        paths: string[],
        o: {
          git?: boolean;
          check?: string | boolean;
          report?: boolean;
          format: string;
          printGitleaksConfig?: boolean;
          printTrufflehogConfig?: boolean;
          server?: string;
        },
      ) => {
        if (o.printGitleaksConfig || o.printTrufflehogConfig) {
          const server = o.server ?? env.KEYWARD_SERVER ?? 'http://127.0.0.1:8787';
          const environments = await serverEnvironments(server);
          out(o.printGitleaksConfig ? gitleaksConfig(environments) : trufflehogConfig(environments));
          return;
        }
        if (o.format !== 'text' && o.format !== 'sarif') throw new Error(`--format must be text or sarif, not ${o.format}`);
        // `--check` takes the server's URL, or nothing (then --server or KEYWARD_SERVER): `--check proj` means the
        // folder proj, checked with that server.
        const named = typeof o.check === 'string' && !/^https?:\/\//i.test(o.check) ? o.check : undefined;
        if (named) paths.unshift(named);
        const wantsCheck = o.check !== undefined || o.report === true;
        const server = typeof o.check === 'string' && !named ? o.check : wantsCheck ? (o.server ?? env.KEYWARD_SERVER) : undefined;
        const result = o.git ? await scanGit(paths[0] ?? process.cwd()) : await scanPaths(paths);
        // A check that cannot be made leaves the findings listed, unchecked, and the exit 2, never 1: only a key the
        // server said is live counts as one.
        let checked = false;
        let reported = 0;
        let uncheckable: string | null = null;
        if (wantsCheck && !server) {
          uncheckable = 'no server to check the keys with: name the one that issued them, keyward scan --check https://keys.example.com';
        } else if (server && result.findings.length > 0) {
          try {
            await checkFindings(server, result.findings);
            checked = true;
            if (o.report) reported = await reportLive(server, result.findings);
          } catch (error) {
            uncheckable = `could not check the keys with ${server}: ${(error as Error).message}`;
          }
        } else if (server) checked = true;
        const summary = scanSummary(result, checked, uncheckable !== null);
        if (uncheckable) result.problems.push(uncheckable);
        if (reported > 0) out(`reported ${reported} live key${reported === 1 ? '' : 's'} as leaked to ${server}`);
        if (o.format === 'sarif') {
          out(toSarif(result));
          for (const p of result.problems) process.stderr.write(`${p}\n`);
          process.stderr.write(`${summary.line}\n`);
        } else {
          for (const p of result.problems) out(p);
          for (const f of result.findings) out(findingLine(f, server));
          out(summary.line);
        }
        process.exitCode = summary.exitCode;
      },
    );

  agentCommands(program, env, out, (line) => void process.stderr.write(`${line}\n`));
  return program;
}

/**
 * `keyward keys …` after `keyward login`: the server signed in to, and the key stored for it, unless --server,
 * KEYWARD_SERVER or KEYWARD_API_KEY say otherwise. (The key still needs admin scope to manage keys.)
 */
async function followLogin(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const at = argv.indexOf('--server');
  const named = at >= 0 ? argv[at + 1] : argv.find((a) => a.startsWith('--server='))?.slice('--server='.length);
  if (!named && !env.KEYWARD_SERVER) {
    const last = new Profiles().lastServer('keyward');
    if (last) env.KEYWARD_SERVER = last;
  }
  if (!env.KEYWARD_API_KEY && !argv.includes('--help') && !argv.includes('-h')) {
    const server = named ?? env.KEYWARD_SERVER;
    const found = await findKey({ env, ...(server ? { server } : {}) }).catch(() => null);
    if (found) env.KEYWARD_API_KEY = found.key;
  }
}

export async function main(argv: string[]): Promise<void> {
  const command = argv[2];
  if (command && SERVER_COMMANDS.has(command)) {
    let server: { serverMain(argv: string[]): Promise<void> };
    try {
      server = await import(SERVER_CLI);
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
      throw new Error(
        `\`keyward ${command}\` comes with the server package: install it with \`npm install @keyward/server\` and run \`npx keyward-server ${command}\`.`,
      );
    }
    if (command === 'keys') await followLogin(argv, process.env);
    return server.serverMain(argv);
  }
  await buildProgram().parseAsync(argv);
}
