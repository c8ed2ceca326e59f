import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BIN } from './server-process.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../../..');
const enabled = process.env.KEYWARD_TEST_PACKAGES === '1';
if (!enabled) console.log('[readme] skipped: set KEYWARD_TEST_PACKAGES=1 to run the README’s commands as written (as .ci/run does)');

/** The ```sh blocks of a Markdown file, each as the lines a person would paste (continuations joined, comments dropped). */
function shellBlocks(markdown: string): string[][] {
  const blocks: string[][] = [];
  let block: string[] | null = null;
  for (const line of markdown.replace(/\\\n\s*/g, '').split('\n')) {
    if (/^```sh\s*$/.test(line)) block = [];
    else if (/^```\s*$/.test(line) && block) {
      blocks.push(block);
      block = null;
    } else if (block) {
      const command = line.replace(/\s+#\s.*$/, '').trim();
      if (command) block.push(command);
    }
  }
  return blocks;
}

const bash = (script: string, cwd: string) => run('bash', ['-ec', script], { cwd, maxBuffer: 64 * 1024 * 1024, timeout: 300_000 });

async function portIsFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((ok) => {
    server.once('error', () => ok(false));
    server.listen(port, '127.0.0.1', () => server.close(() => ok(true)));
  });
}

describe.skipIf(!enabled)('the README’s commands, run as written', () => {
  it('docs/install.md: the pack block in the clone, then the install block in an empty folder, give a working agent CLI', async () => {
    const [pack, install] = shellBlocks(readFileSync(join(ROOT, 'docs/install.md'), 'utf8'));
    expect(pack?.join('\n')).toContain('npm pack');
    expect(install?.join('\n')).toMatch(/npm install .*keyward-0\.1\.0\.tgz/);
    // The guide's folder, made fresh here: where it points does not exist yet, as on a clean machine.
    const dest = join(mkdtempSync(join(tmpdir(), 'kw-readme-')), 'keyward');
    const asWritten = (lines: string[]) => lines.join('\n').replaceAll('/tmp/keyward', dest);
    await bash(asWritten(pack as string[]), ROOT);
    const empty = mkdtempSync(join(tmpdir(), 'kw-readme-agent-'));
    await bash(asWritten(install as string[]), empty);
    const help = await run(join(empty, 'node_modules/.bin/keyward'), ['--help']);
    expect(help.stdout).toMatch(/\blogin\b/);
  }, 400_000);

  it('README.md: the quick start’s curl commands against `keyward serve` on the address it names', async () => {
    if (!(await portIsFree(8787))) {
      console.warn('[readme] quick start not run: 127.0.0.1:8787, the address the README names, is in use');
      return;
    }
    const blocks = shellBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    const curls = blocks.find((b) => b.some((l) => l.startsWith('curl ')));
    expect(curls).toHaveLength(3);
    const [signup, create, whoami] = curls as [string, string, string];
    const data = mkdtempSync(join(tmpdir(), 'kw-readme-serve-'));
    const server = spawn(process.execPath, [BIN, 'serve', '--data-dir', join(data, '.keyward')], { cwd: data, stdio: 'ignore' });
    try {
      for (
        let i = 0;
        i < 100 &&
        !(await fetch('http://127.0.0.1:8787/health')
          .then((r) => r.ok)
          .catch(() => false));
        i++
      )
        await new Promise((r) => setTimeout(r, 100));
      const work = mkdtempSync(join(tmpdir(), 'kw-readme-curl-'));
      await bash(signup, work);
      const made = JSON.parse((await bash(create, work)).stdout) as { key: { raw_key: string } };
      expect(made.key.raw_key).toMatch(/^kw_test_/);
      // The one thing a reader changes: the placeholder, for the key the line before printed.
      const who = JSON.parse((await bash(whoami.replace('kw_test_…', made.key.raw_key), work)).stdout);
      expect(who).toMatchObject({ name: 'my-agent-key', environment: 'test' });
      expect(existsSync(join(data, '.keyward', 'keyward.db'))).toBe(true);
    } finally {
      server.kill('SIGTERM');
    }
  }, 60_000);
});
