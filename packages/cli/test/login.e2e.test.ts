import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, inKeyring, read, tools, waitFor } from './keyring.js';
import { BIN, HttpAgent, ServerProcess } from './server-process.js';

const PASSWORD = 'correct horse battery 9';

/** Every file under `dirs` that contains `needle`. */
function grep(needle: string, ...dirs: string[]): string {
  try {
    return execFileSync('grep', ['-rl', '--', needle, ...dirs], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

describe.skipIf(!tools)('agent sign-in end to end: CLI, browser, real Secret Service', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kw-login-'));
    writeFileSync(join(dir, 'cfg.json'), JSON.stringify({ agent_sign_in: { device_interval_seconds: 1 } }));
    server = await new ServerProcess(dir, {}, ['--config', join(dir, 'cfg.json')]).start();
    await new HttpAgent(server.base).req('POST', '/api/auth/signup', { email: 'human@example.com', password: PASSWORD });
  });
  afterAll(() => server.stop());

  it('login --no-browser → a person signs in and approves in Chromium → key in the keyring, nowhere on disk, reusable', async () => {
    const home = mkdtempSync(join(tmpdir(), 'kw-home-'));
    const work = mkdtempSync(join(tmpdir(), 'kw-work-'));
    const script = `$KW login --no-browser --server ${server.base} --environment test --name e2e-agent > $WORK/login.out 2>&1; echo $? > $WORK/login.rc
$KW whoami --server ${server.base} > $WORK/whoami.out 2>&1; echo $? > $WORK/whoami.rc
$KW token --server ${server.base} > $WORK/token.out 2>/dev/null; echo $? > $WORK/token.rc
$KW exec --server ${server.base} -- sh -c 'test -n "$KEYWARD_API_KEY" && echo has-key' > $WORK/exec.out 2>&1`;
    const done = inKeyring(script, home, work);
    const url = (await waitFor(join(work, 'login.out'), /https?:\/\/\S+\/auth\/cli\?\S+/))[0];

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    try {
      const page = await browser.newPage();
      await page.goto(url);
      await page.getByLabel('E-mail address').fill('human@example.com');
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Create a key for an agent?' }).waitFor();
      expect(await page.textContent('main')).toContain('e2e-agent');
      await page.getByRole('button', { name: 'Approve and create key' }).click();
      await page.getByRole('heading', { name: 'Signed in' }).waitFor();
    } finally {
      await browser.close();
    }
    expect(await done).toBe(0);
    expect(read(join(work, 'login.rc')), read(join(work, 'login.out'))).toBe('0');
    expect(read(join(work, 'login.out'))).toMatch(/Signed in\. Key kw_test_…\w{4} \(test\) is in the OS secret store/);
    expect(read(join(work, 'whoami.rc')), read(join(work, 'whoami.out'))).toBe('0');
    expect(read(join(work, 'whoami.out'))).toMatch(/e2e-agent \(key_\w+\) — test, scope write/);
    const key = read(join(work, 'token.out'));
    expect(read(join(work, 'token.rc'))).toBe('0');
    expect(key).toMatch(/^kw_test_[0-9A-Za-z]{42}$/);
    expect(read(join(work, 'exec.out'))).toBe('has-key');
    rmSync(join(work, 'token.out'));
    expect(grep(key.slice(-20), home, work, server.dataDir)).toBe('');
    expect(server.output).not.toContain(key.slice(-20));
    expect(read(join(home, '.config/keyward/profiles.json'))).toContain('kw_test_…');
  }, 90_000);

  it('device flow: the CLI shows a code, a person approves it on /device, the key lands in the keyring', async () => {
    const home = mkdtempSync(join(tmpdir(), 'kw-home-'));
    const work = mkdtempSync(join(tmpdir(), 'kw-work-'));
    const done = inKeyring(
      `$KW login --device --no-browser --server ${server.base} --environment live --name device-agent > $WORK/login.out 2>&1; echo $? > $WORK/login.rc
$KW token --server ${server.base} > $WORK/token.out`,
      home,
      work,
    );
    const code = (await waitFor(join(work, 'login.out'), /enter the code ([B-Z]{4}-[B-Z]{4})/))[1] as string;
    const human = new HttpAgent(server.base);
    await human.req('POST', '/api/auth/login', { email: 'human@example.com', password: PASSWORD });
    const page = await fetch(`${server.base}/device?user_code=${code}`, { headers: { cookie: human.cookie } }).then((r) => r.text());
    const csrf = page.match(/name="csrf" value="([^"]+)"/)?.[1] ?? '';
    const approved = await fetch(`${server.base}/device`, {
      method: 'POST',
      headers: { cookie: human.cookie, 'content-type': 'application/x-www-form-urlencoded', origin: server.base },
      body: new URLSearchParams({ user_code: code, csrf, decision: 'approve' }),
    });
    expect(await approved.text()).toContain('Device approved');
    expect(await done).toBe(0);
    expect(read(join(work, 'login.rc')), read(join(work, 'login.out'))).toBe('0');
    expect(read(join(work, 'token.out'))).toMatch(/^kw_live_/);
  }, 60_000);

  it('manual paste from standard input: checked, verified, stored; a mistyped key is refused before any request', async () => {
    const human = new HttpAgent(server.base);
    await human.req('POST', '/api/auth/login', { email: 'human@example.com', password: PASSWORD });
    const key = (await human.req('POST', '/api/developers/keys', { name: 'pasted' })).body.key.raw_key as string;
    // One character changed (never to itself): the checksum no longer matches.
    const typo = `${key.slice(0, -3)}${key.at(-3) === 'a' ? 'b' : 'a'}${key.slice(-2)}`;
    const home = mkdtempSync(join(tmpdir(), 'kw-home-'));
    const work = mkdtempSync(join(tmpdir(), 'kw-work-'));
    writeFileSync(join(work, 'typo'), typo);
    writeFileSync(join(work, 'key'), key);
    expect(
      await inKeyring(
        `$KW login --manual --server ${server.base} < $WORK/typo > $WORK/typo.out 2>&1; echo $? > $WORK/typo.rc
$KW login --manual --server ${server.base} < $WORK/key > $WORK/login.out 2>&1; echo $? > $WORK/login.rc
rm $WORK/key $WORK/typo
$KW whoami --server ${server.base} > $WORK/whoami.out 2>&1`,
        home,
        work,
      ),
    ).toBe(0);
    expect(read(join(work, 'typo.rc'))).toBe('1');
    expect(read(join(work, 'typo.out'))).toMatch(/checksum does not match/);
    expect(read(join(work, 'login.rc')), read(join(work, 'login.out'))).toBe('0');
    expect(read(join(work, 'whoami.out'))).toMatch(/^pasted /);
    expect(grep(key.slice(-20), home, work)).toBe('');
  }, 60_000);

  it('with no secret store: a clear message with the alternatives, exit 3, nothing written in the clear', async () => {
    const home = mkdtempSync(join(tmpdir(), 'kw-home-'));
    const human = new HttpAgent(server.base);
    await human.req('POST', '/api/auth/login', { email: 'human@example.com', password: PASSWORD });
    const key = (await human.req('POST', '/api/developers/keys', { name: 'homeless' })).body.key.raw_key as string;
    const env = {
      ...process.env,
      HOME: home,
      XDG_CONFIG_HOME: join(home, '.config'),
      DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus',
    };
    const r = await new Promise<{ code: number; out: string }>((ok) => {
      const p = spawn(process.execPath, [BIN, 'login', '--manual', '--server', server.base], { env });
      let out = '';
      const collect = (d: Buffer) => {
        out += d;
      };
      p.stdout.on('data', collect);
      p.stderr.on('data', collect);
      p.on('exit', (code) => ok({ code: code ?? 1, out }));
      p.stdin.end(key);
    });
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/No OS secret store is available/);
    expect(r.out).toMatch(/KEYWARD_API_KEY/);
    expect(r.out).not.toContain(key.slice(-20));
    expect(grep(key.slice(-20), home)).toBe('');
  });
  it('finding: `keyward keys` after login still needed --server and the key; now it follows the login, dates shown one way', async () => {
    const human = new HttpAgent(server.base);
    await human.req('POST', '/api/auth/login', { email: 'human@example.com', password: PASSWORD });
    const admin = (await human.req('POST', '/api/developers/keys', { name: 'keys-after-login', scope: 'admin' })).body.key;
    await new HttpAgent(server.base).req('GET', '/v1/whoami', undefined, { authorization: `Bearer ${admin.raw_key}` });
    const home = mkdtempSync(join(tmpdir(), 'kw-home-'));
    const work = mkdtempSync(join(tmpdir(), 'kw-work-'));
    writeFileSync(join(work, 'key'), admin.raw_key);
    expect(
      await inKeyring(
        `$KW login --manual --server ${server.base} < $WORK/key > $WORK/login.out 2>&1
rm $WORK/key
sleep 1.2
$KW keys list > $WORK/keys.out 2>&1; echo $? > $WORK/keys.rc`,
        home,
        work,
      ),
    ).toBe(0);
    expect(read(join(work, 'login.out'))).not.toMatch(/input is hidden/);
    expect(read(join(work, 'keys.rc')), read(join(work, 'keys.out'))).toBe('0');
    const listed = read(join(work, 'keys.out'));
    expect(listed).toContain('keys-after-login');
    const shapes = new Set([...listed.matchAll(/\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d)?)?/g)].map((m) => m[0].replace(/\d/g, '9')));
    expect([...shapes]).toEqual(['9999-99-99 99:99']);
  }, 60_000);

  it('finding: with no secret store, login opened a sign-in and minted a key before it found out; now it says so first and mints nothing', async () => {
    const home = mkdtempSync(join(tmpdir(), 'kw-home-'));
    const human = new HttpAgent(server.base);
    await human.req('POST', '/api/auth/login', { email: 'human@example.com', password: PASSWORD });
    const keysBefore = (await human.req('GET', '/api/developers/keys?limit=200')).body.keys.length;
    const r = await runCli(['login', '--no-browser', '--server', server.base], noStore(home));
    expect(r.code).toBe(3);
    expect(r.out).not.toMatch(/https?:\/\/\S+\/(authorize|device|api\/cli)/);
    expect(r.out).toMatch(/made none/);
    expect(r.out).toMatch(/keyward login --stdout/);
    expect(r.out).toMatch(/KEYWARD_API_KEY/);
    expect((await human.req('GET', '/api/developers/keys?limit=200')).body.keys.length).toBe(keysBefore);
  });

  it('login --stdout hands the key once to a pipe and keeps nothing, with no secret store; to a terminal it is refused', async () => {
    const home = mkdtempSync(join(tmpdir(), 'kw-home-'));
    const human = new HttpAgent(server.base);
    await human.req('POST', '/api/auth/login', { email: 'human@example.com', password: PASSWORD });
    const key = (await human.req('POST', '/api/developers/keys', { name: 'piped' })).body.key.raw_key as string;
    const r = await runCli(['login', '--manual', '--stdout', '--server', server.base], noStore(home), key);
    expect(r.code, r.err).toBe(0);
    expect(r.stdout).toBe(`${key}\n`);
    expect(r.err).toMatch(/went to standard output; keyward kept nothing/);
    expect(r.err).not.toMatch(/input is hidden/);
    expect(grep(key.slice(-20), home)).toBe('');
    // `script` gives the CLI a terminal for its standard output.
    const tty = await runCli([], noStore(home), undefined, [
      'script',
      '-qec',
      `${process.execPath} ${BIN} login --stdout --no-browser --server ${server.base}`,
      '/dev/null',
    ]);
    expect(tty.code).not.toBe(0);
    expect(tty.out).toMatch(/refusing to print a key to a terminal/);
    expect(tty.out).not.toMatch(/https?:\/\/\S+\/(authorize|device)/);
  });

  it('finding: `login --scope admin` waited for a browser that would refuse it; now the server’s metadata says no at once', async () => {
    const r = await runCli(
      ['login', '--scope', 'admin', '--no-browser', '--server', server.base],
      noStore(mkdtempSync(join(tmpdir(), 'kw-home-'))),
    );
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/does not give admin keys to a sign-in/);
    expect(r.out).not.toMatch(/https?:\/\/\S+\/authorize/);
  });
});

/** The environment of a machine with no Secret Service to reach. */
function noStore(home: string): NodeJS.ProcessEnv {
  return { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' };
}

/** Runs the CLI (or `command` as given) to its end, with `input` on standard input; 20 s at most. */
function runCli(args: string[], env: NodeJS.ProcessEnv, input?: string, command?: string[]) {
  return new Promise<{ code: number; out: string; stdout: string; err: string }>((ok) => {
    const [cmd, ...rest] = command ?? [process.execPath, BIN, ...args];
    const p = spawn(cmd as string, rest, { env });
    let stdout = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    p.stderr.on('data', (d: Buffer) => {
      err += d;
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('exit', (code) => {
      clearTimeout(timer);
      ok({ code: code ?? 1, out: stdout + err, stdout, err });
    });
    p.stdin.end(input ?? '');
  });
}

/** A local stand-in of Nevermined's flow: /auth/cli?callback_url=… redirects with nvm_api_key=<key>. */
async function neverminedStandIn(keyPrefix: string) {
  const key = `${keyPrefix}${'Z'.repeat(30)}${Date.now()}`;
  let signIns = 0;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/auth/cli') {
      signIns++;
      const cb = new URL(url.searchParams.get('callback_url') ?? '');
      cb.searchParams.set('nvm_api_key', key);
      res.writeHead(302, { location: cb.toString() }).end();
    } else if (url.pathname === '/payment-methods') {
      const ok = req.headers.authorization === `Bearer ${key}`;
      res
        .writeHead(ok ? 200 : 401, { 'content-type': 'application/json' })
        .end(JSON.stringify(ok ? { payment_methods: [] } : { error: 'unauthorized' }));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, key, close: () => server.close(), signIns: () => signIns };
}

describe.skipIf(!tools)('the Nevermined preset against a local stand-in', () => {
  async function run(prefix: string) {
    const standIn = await neverminedStandIn(prefix);
    const home = mkdtempSync(join(tmpdir(), 'kw-home-'));
    const work = mkdtempSync(join(tmpdir(), 'kw-work-'));
    const flags = `--provider nevermined --server ${standIn.base}`;
    const done = inKeyring(
      `$KW login ${flags} --api-base ${standIn.base} --environment sandbox --no-browser > $WORK/login.out 2>&1; echo $? > $WORK/login.rc
$KW exec ${flags} -- sh -c 'printf %s "$NVM_API_KEY" | cut -c1-8' > $WORK/exec.out 2>&1; echo $? > $WORK/exec.rc
$KW whoami ${flags} --api-base ${standIn.base} > $WORK/whoami.out 2>&1`,
      home,
      work,
    );
    const url = (await waitFor(join(work, 'login.out'), /https?:\/\/\S+\/auth\/cli\?\S+/))[0];
    // The "browser": follow the stand-in's redirect to the agent's callback.
    const redirect = await fetch(url, { redirect: 'manual' });
    const location = redirect.headers.get('location') as string;
    expect(location).toContain('nvm_api_key=');
    await fetch(location).catch(() => {});
    await done;
    standIn.close();
    return { work, home, key: standIn.key };
  }

  it('captures nvm_api_key from the redirect, checks it with GET /payment-methods, stores it as NVM_API_KEY', async () => {
    const { work, home, key } = await run('sandbox:');
    expect(read(join(work, 'login.rc')), read(join(work, 'login.out'))).toBe('0');
    expect(read(join(work, 'exec.out'))).toBe('sandbox:');
    expect(read(join(work, 'whoami.out'))).toMatch(/works against .*\/payment-methods/);
    expect(read(join(work, 'login.out'))).not.toContain(key);
    expect(grep(key, home, work)).toBe('');
  }, 60_000);

  it('a live: key captured when sandbox was asked is refused with a clear message, and nothing is stored', async () => {
    const { work } = await run('live:');
    expect(read(join(work, 'login.rc'))).toBe('1');
    expect(read(join(work, 'login.out'))).toMatch(/asked for a sandbox key .*"sandbox:".*nothing was stored/);
    expect(read(join(work, 'exec.rc'))).toBe('1');
    expect(read(join(work, 'exec.out'))).toMatch(/no key found/);
  }, 60_000);
});
