import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { duration } from '../src/agent-commands.js';
import { BIN, HttpAgent, ServerProcess } from './server-process.js';

/** The agent CLI as an agent runs it: the parent key in KEYWARD_API_KEY, output to pipes, a home of its own. */
function keyward(args: string[], parentKey: string): Promise<{ code: number | null; out: string; err: string }> {
  const home = mkdtempSync(join(tmpdir(), 'kw-derive-home-'));
  const env = { PATH: process.env.PATH ?? '', HOME: home, XDG_CONFIG_HOME: join(home, '.config'), KEYWARD_API_KEY: parentKey };
  return new Promise((ok) => {
    const p = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.stderr.on('data', (d) => {
      err += d;
    });
    p.on('exit', (code) => ok({ code, out, err }));
  });
}

describe('keyward token --derive and exec --derive against the real server', () => {
  let server: ServerProcess;
  let owner: HttpAgent;
  let parent: { id: string; raw_key: string };
  const whoami = (key: string) => new HttpAgent(server.base).req('GET', '/v1/whoami', undefined, { authorization: `Bearer ${key}` });

  beforeAll(async () => {
    server = await new ServerProcess().start();
    owner = await HttpAgent.newAccount(server.base, 'derive@cli.example');
    parent = await owner.createKey({ name: 'orchestrator', scope: 'write', budget: 100 });
  });
  afterAll(() => server.stop());

  it('token --derive prints a child key to a pipe: read, ten minutes, its own budget and agent label', async () => {
    const r = await keyward(
      ['token', '--derive', '--scope', 'read', '--ttl', '10m', '--budget', '5', '--agent', 'summariser', '--server', server.base],
      parent.raw_key,
    );
    expect(r.code, r.err).toBe(0);
    const child = r.out.trim();
    expect(child).toMatch(/^kw_test_/);
    expect(child).not.toBe(parent.raw_key);
    expect(r.err).toMatch(/child key key_\w+ \(read, until /);
    const who = await whoami(child);
    expect(who.body).toMatchObject({ scope: 'read', agent: 'summariser', parent_id: parent.id, limits: { budget: 5 } });
    expect(Date.parse(who.body.expires_at) - Date.now()).toBeGreaterThan(590_000);
    expect(Date.parse(who.body.expires_at) - Date.now()).toBeLessThanOrEqual(600_000);
  });

  it("asking more than the stored key has is refused with the server's words; --scope without --derive too", async () => {
    const reader = await owner.createKey({ name: 'reader', scope: 'read' });
    const wider = await keyward(['token', '--derive', '--scope', 'write', '--server', server.base], reader.raw_key);
    expect(wider.code).toBe(1);
    expect(wider.err).toMatch(/scope is at most its parent's \(read\)/);
    const stray = await keyward(['token', '--scope', 'read', '--server', server.base], reader.raw_key);
    expect(stray.code).toBe(1);
    expect(stray.err).toMatch(/--scope goes with --derive/);
  });

  it('exec --derive runs the command with a fresh child key, passes its exit code on, and revokes the key when it exits', async () => {
    const work = mkdtempSync(join(tmpdir(), 'kw-derive-'));
    const file = join(work, 'key');
    const r = await keyward(
      [
        'exec',
        '--derive',
        '--scope',
        'read',
        '--ttl',
        '600',
        '--server',
        server.base,
        '--',
        'sh',
        '-c',
        `printf %s "$KEYWARD_API_KEY" > ${file}; exit 3`,
      ],
      parent.raw_key,
    );
    expect(r.code, r.err).toBe(3);
    const child = readFileSync(file, 'utf8');
    expect(child).toMatch(/^kw_test_/);
    expect(child).not.toBe(parent.raw_key);
    expect((await whoami(child)).status).toBe(401);
    expect((await whoami(parent.raw_key)).status).toBe(200);
  });

  it('reads lifetimes the way people write them', () => {
    expect([duration('600'), duration('90s'), duration('10m'), duration('2h'), duration('7d')]).toEqual([600, 90, 600, 7200, 604_800]);
    for (const bad of ['0', '-5', '10x', '1.5h', '']) expect(() => duration(bad), bad).toThrow(/lifetime/);
  });
});
