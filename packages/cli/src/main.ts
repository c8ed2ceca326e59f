import { Command } from 'commander';
import { agentCommands } from './agent-commands.js';
import { scan, scanSummary } from './scan.js';

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
    .description('find API keys (any prefix, checksum-verified) in files and folders; exits 1 if any, 2 if a path cannot be read')
    .argument('[paths...]', 'files or folders (default: .)')
    .action(async (paths: string[]) => {
      const summary = scanSummary(await scan(paths, out));
      out(summary.line);
      process.exitCode = summary.exitCode;
    });

  agentCommands(program, env, out, (line) => void process.stderr.write(`${line}\n`));
  return program;
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
    return server.serverMain(argv);
  }
  await buildProgram().parseAsync(argv);
}
