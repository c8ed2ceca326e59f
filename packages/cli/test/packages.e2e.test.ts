import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpAgent } from '../../../test-support/http-agent.js';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const enabled = process.env.KEYWARD_TEST_PACKAGES === '1';
if (!enabled)
  console.log('[packages] skipped: set KEYWARD_TEST_PACKAGES=1 to pack every package and install the tarballs (as .ci/run does)');

/** The packages a user installs, by name: the tarball `npm pack` made and the files in it. */
interface Packed {
  name: string;
  filename: string;
  files: string[];
}

const SERVER_ONLY = ['fastify', 'pg', 'ioredis', 'better-sqlite3', 'kysely', 'pino', '@keyward/server'];

async function npm(args: string[], cwd: string, timeout = 300_000) {
  return run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, timeout, maxBuffer: 64 << 20 });
}

function installedPackages(folder: string): string[] {
  const lock = JSON.parse(readFileSync(join(folder, 'package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
  return Object.keys(lock.packages)
    .filter((p) => p.startsWith('node_modules/'))
    .map((p) => p.slice(p.lastIndexOf('node_modules/') + 'node_modules/'.length));
}

function sizeOf(path: string): number {
  const s = statSync(path);
  if (!s.isDirectory()) return s.size;
  return readdirSync(path).reduce((sum, entry) => sum + sizeOf(join(path, entry)), 0);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as { port: number }).port;
  await new Promise((ok) => server.close(ok));
  return port;
}

/** Starts a program and waits for a line of its output that matches. */
async function started(child: ChildProcess, ready: RegExp, what: string): Promise<string> {
  let seen = '';
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`${what} did not start: ${seen}`)), 30_000);
    const read = (chunk: Buffer) => {
      seen += chunk.toString();
      const match = ready.exec(seen);
      if (match) {
        clearTimeout(timer);
        ok(match[1] ?? match[0]);
      }
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    child.on('exit', (code) => fail(new Error(`${what} exited with ${code}: ${seen}`)));
  });
}

/**
 * What a user outside this repository gets: every package packed (`npm pack`), checked by publint and
 * @arethetypeswrong/cli, and installed from the tarballs into empty folders under the system's temp directory.
 * There the agent CLI runs without any server dependency, `keyward-server` starts, and a tiny Express and a tiny
 * Hono app are protected by the middleware against it.
 */
describe.skipIf(!enabled)('the packed packages, installed outside the repository', () => {
  const work = mkdtempSync(join(tmpdir(), 'kw-packages-'));
  const tarballs = join(work, 'tarballs');
  const packed = new Map<string, Packed>();
  const children: ChildProcess[] = [];
  const tgz = (name: string) => join(tarballs, packed.get(name)?.filename ?? `${name} was not packed`);

  beforeAll(async () => {
    mkdirSync(tarballs);
    const { stdout } = await npm(['pack', '--workspaces', '--json', '--pack-destination', tarballs], ROOT);
    for (const p of JSON.parse(stdout) as { name: string; filename: string; files: { path: string }[] }[]) {
      packed.set(p.name, { name: p.name, filename: p.filename, files: p.files.map((f) => f.path) });
    }
  }, 300_000);
  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  });

  it('every package is publishable: LICENSE, README, engines, and exports, bin and types that name shipped files', () => {
    expect([...packed.keys()].sort()).toEqual(['@keyward/core', '@keyward/middleware', '@keyward/sdk', '@keyward/server', 'keyward']);
    for (const p of packed.values()) {
      const manifest = JSON.parse(
        readFileSync(join(ROOT, 'packages', p.name === 'keyward' ? 'cli' : (p.name.split('/')[1] ?? ''), 'package.json'), 'utf8'),
      );
      expect(p.files, p.name).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json']));
      expect(manifest.engines?.node, p.name).toMatch(/^>=20/);
      const named: string[] = [];
      const walk = (v: unknown) => {
        if (typeof v === 'string') named.push(v.replace(/^\.\//, ''));
        else if (v && typeof v === 'object') Object.values(v).forEach(walk);
      };
      walk(manifest.exports);
      walk(manifest.bin);
      walk(manifest.types);
      expect(named.length, p.name).toBeGreaterThan(0);
      expect(
        named.filter((f) => !p.files.includes(f)),
        p.name,
      ).toEqual([]);
    }
  });

  it('publint and @arethetypeswrong/cli find nothing to fix', async () => {
    const { publint } = await import('publint');
    const { formatMessage } = await import('publint/utils');
    for (const p of packed.values()) {
      const tarball = readFileSync(tgz(p.name));
      const { messages, pkg } = await publint({
        pack: { tarball: tarball.buffer.slice(tarball.byteOffset, tarball.byteOffset + tarball.length) },
        level: 'suggestion',
      });
      expect(
        messages.map((m) => formatMessage(m, pkg) ?? m.code),
        p.name,
      ).toEqual([]);
      // ESM-only packages: the CommonJS and node10 resolutions are not offered, on purpose.
      const attw = await run(join(ROOT, 'node_modules/.bin/attw'), [tgz(p.name), '--profile', 'esm-only', '--format', 'table-flipped'], {
        timeout: 60_000,
      }).catch((e: { stdout: string; code: number }) => e);
      expect('code' in attw && attw.code ? attw.stdout : '', p.name).toBe('');
    }
  }, 120_000);

  it('the agent CLI installs without the server or any native build, stays small, and runs', async () => {
    const agent = join(work, 'agent');
    mkdirSync(agent);
    writeFileSync(join(agent, 'package.json'), '{"name":"agent","private":true}');
    await npm(['install', '--prefer-offline', tgz('@keyward/core'), tgz('@keyward/sdk'), tgz('keyward')], agent);
    const installed = installedPackages(agent);
    expect(installed).toContain('keyward');
    expect(installed.filter((p) => SERVER_ONLY.includes(p))).toEqual([]);
    const native = installed.filter((p) => existsSync(join(agent, 'node_modules', p, 'binding.gyp')));
    expect(native).toEqual([]);
    const megabytes = sizeOf(join(agent, 'node_modules')) / 1e6;
    console.log(`[packages] agent CLI installed: ${installed.length} packages, ${megabytes.toFixed(1)} MB`);
    expect(megabytes).toBeLessThan(20);

    const bin = join(agent, 'node_modules/.bin/keyward');
    expect((await run(bin, ['--help'])).stdout).toMatch(/login[\s\S]*whoami[\s\S]*token[\s\S]*exec[\s\S]*logout/);
    mkdirSync(join(agent, 'clean'));
    writeFileSync(join(agent, 'clean', 'notes.txt'), 'nothing secret here\n');
    expect((await run(bin, ['scan', join(agent, 'clean')])).stdout).toMatch(/no keys found/i);
    const missing = await run(bin, ['scan', join(agent, 'no-such-path')]).catch((e: { code: number; stderr: string }) => e);
    expect('code' in missing ? missing.code : 0).toBe(2);
    // Without the server package beside it, `keyward serve` says what to install.
    const serve = await run(bin, ['serve', '--help']).catch((e: { code: number; stderr: string }) => e);
    expect('stderr' in serve ? serve.stderr : '').toMatch(/@keyward\/server/);
  }, 300_000);

  it('keyward-server starts from its tarball, and the middleware protects a tiny Express and Hono app against it', async () => {
    const api = join(work, 'api');
    mkdirSync(api);
    writeFileSync(join(api, 'package.json'), '{"name":"api","private":true,"type":"module"}');
    await npm(
      [
        'install',
        '--prefer-offline',
        tgz('@keyward/core'),
        tgz('@keyward/server'),
        tgz('@keyward/middleware'),
        tgz('@keyward/sdk'),
        tgz('keyward'),
        'express@5',
        'hono@4',
        '@hono/node-server@1',
      ],
      api,
      600_000,
    );
    const port = await freePort();
    const server = spawn(
      join(api, 'node_modules/.bin/keyward-server'),
      ['serve', '--port', String(port), '--data-dir', join(api, 'data')],
      {
        cwd: api,
        env: { ...process.env, KEYWARD_SECRET: 'packages-suite-secret-0123456789abcdef' },
      },
    );
    children.push(server);
    await started(server, /listening on (http:\/\/\S+)/, 'keyward-server');
    const base = `http://127.0.0.1:${port}`;
    const owner = await HttpAgent.newAccount(base, 'packed@example.com');
    const read = await owner.newKey({ name: "Dana's laptop", scope: 'read' });

    // `keyward serve` works too once the server package sits beside the CLI.
    expect((await run(join(api, 'node_modules/.bin/keyward'), ['serve', '--help'])).stdout).toMatch(/--data-dir/);

    writeFileSync(
      join(api, 'express-app.js'),
      `import { remoteVerifier } from '@keyward/middleware';
import { keywardExpress } from '@keyward/middleware/express';
import express from 'express';
const kw = keywardExpress({ verifier: remoteVerifier({ baseUrl: process.env.KEYWARD_URL }) });
const app = express();
app.get('/list', kw.open(), (_req, res) => res.json({ agents: [] }));
app.get('/protected', kw.protect(), (req, res) => res.json({ key: req.keyward?.name }));
app.post('/protected', kw.protect(), (req, res) => res.json({ key: req.keyward?.name }));
const s = app.listen(0, '127.0.0.1', () => console.log('listening on ' + s.address().port));
`,
    );
    writeFileSync(
      join(api, 'hono-app.js'),
      `import { serve } from '@hono/node-server';
import { remoteVerifier } from '@keyward/middleware';
import { keywardHono } from '@keyward/middleware/hono';
import { Hono } from 'hono';
const kw = keywardHono({ verifier: remoteVerifier({ baseUrl: process.env.KEYWARD_URL }) });
const app = new Hono();
app.use('/protected', kw.protect());
app.get('/protected', (c) => c.json({ key: c.get('keyward')?.name }));
app.post('/protected', (c) => c.json({ key: c.get('keyward')?.name }));
serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => console.log('listening on ' + info.port));
`,
    );
    for (const file of ['express-app.js', 'hono-app.js']) {
      const app = spawn(process.execPath, [file], { cwd: api, env: { ...process.env, KEYWARD_URL: base } });
      children.push(app);
      const appBase = `http://127.0.0.1:${await started(app, /listening on (\d+)/, file)}`;
      const call = async (method: string, key?: string) => {
        const res = await fetch(`${appBase}/protected`, { method, headers: key ? { authorization: `Bearer ${key}` } : {} });
        return { status: res.status, body: (await res.json()) as { key?: string; error?: Record<string, string> } };
      };
      expect(await call('GET'), file).toMatchObject({ status: 401, body: { error: { code: 'unauthorized', reason: 'missing' } } });
      expect(await call('GET', read), file).toEqual({ status: 200, body: { key: "Dana's laptop" } });
      expect(await call('POST', read), file).toMatchObject({
        status: 403,
        body: { error: { code: 'forbidden', required_scope: 'write', key_scope: 'read' } },
      });
    }
  }, 900_000);
});
