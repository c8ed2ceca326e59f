import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServerProgram } from '../../server/src/cli/program.js';
import { HttpAgent, ServerProcess } from './server-process.js';

/**
 * One table of who may do what, asked through every surface that offers the action: a member's role through the
 * JSON API and the dashboard forms, a key's scope through the JSON API and the CLI (`keyward keys …`, which
 * authenticates with a key). Every surface must give the table's answer.
 */
type Actor = 'member read' | 'member write' | 'member admin' | 'key read' | 'key write' | 'key admin';
type Action =
  | 'create a read key'
  | 'create a write key'
  | 'create an admin key'
  | 'revoke a key it made'
  | 'revoke a key the admin made'
  | 'rotate a key the admin made';

const yes = true;
const no = false;
// biome-ignore format: a table reads best as one
const MATRIX: Record<Action, Record<Actor, boolean>> = {
  //                                 member: read   write  admin   key: read  write  admin
  'create a read key':            { 'member read': yes, 'member write': yes, 'member admin': yes, 'key read': no,  'key write': no,  'key admin': yes },
  'create a write key':           { 'member read': no,  'member write': yes, 'member admin': yes, 'key read': no,  'key write': no,  'key admin': yes },
  'create an admin key':          { 'member read': no,  'member write': no,  'member admin': yes, 'key read': no,  'key write': no,  'key admin': yes },
  // for a key, "a key it made" is itself: any key may revoke itself
  'revoke a key it made':         { 'member read': yes, 'member write': yes, 'member admin': yes, 'key read': yes, 'key write': yes, 'key admin': yes },
  'revoke a key the admin made':  { 'member read': no,  'member write': no,  'member admin': yes, 'key read': no,  'key write': no,  'key admin': yes },
  'rotate a key the admin made':  { 'member read': no,  'member write': no,  'member admin': yes, 'key read': no,  'key write': no,  'key admin': yes },
};

const SCOPE_OF: Partial<Record<Action, string>> = {
  'create a read key': 'read',
  'create a write key': 'write',
  'create an admin key': 'admin',
};

describe('the permission matrix: the JSON API, the dashboard and the CLI give the same answers', () => {
  let server: ServerProcess;
  let owner: HttpAgent;
  const members = new Map<string, HttpAgent>();

  beforeAll(async () => {
    server = await new ServerProcess().start();
    owner = await HttpAgent.newAccount(server.base, 'owner@matrix.example');
    for (const role of ['read', 'write', 'admin'] as const) {
      const email = `${role}@matrix.example`;
      const inv = await owner.req('POST', '/api/org/members', { email, role });
      members.set(role, await HttpAgent.newAccount(server.base, email, { invite_token: inv.body.invite_token }));
    }
  }, 60_000);
  afterAll(() => server?.stop());

  /** A key of the organization's owner (an admin), for the actions on "a key the admin made". */
  const ownersKey = () => owner.createKey({ name: 'owner-key' });

  // ---- members: the JSON API (cookie session, JSON) and the dashboard (form posts with CSRF and one-time tokens)

  async function viaApi(agent: HttpAgent, action: Action): Promise<boolean> {
    const scope = SCOPE_OF[action];
    if (scope) return decide((await agent.req('POST', '/api/developers/keys', { name: 'matrix', scope })).status, 201);
    const target = action === 'revoke a key it made' ? await agent.createKey({ name: 'mine', scope: 'read' }) : await ownersKey();
    if (action.startsWith('rotate')) return decide((await agent.req('POST', `/api/developers/keys/${target.id}/rotate`, {})).status, 201);
    return decide((await agent.req('DELETE', `/api/developers/keys/${target.id}`)).status, 200);
  }

  async function viaDashboard(agent: HttpAgent, action: Action): Promise<boolean> {
    const page = await fetch(`${server.base}/dashboard/keys`, { headers: { cookie: agent.cookie } });
    const text = await page.text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(text)?.[1] ?? '';
    const token = /name="form_token" value="([^"]+)"/.exec(text)?.[1] ?? '';
    const post = async (path: string, fields: Record<string, string>) =>
      fetch(`${server.base}${path}`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: agent.cookie, origin: server.base, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf, form_token: token, ...fields }),
      });
    const scope = SCOPE_OF[action];
    if (scope) return decide((await post('/dashboard/keys', { name: 'matrix', scope, environment: 'test' })).status, 303);
    const target = action === 'revoke a key it made' ? await agent.createKey({ name: 'mine', scope: 'read' }) : await ownersKey();
    if (action.startsWith('rotate'))
      return decide((await post(`/dashboard/keys/${target.id}/rotate`, { grace_period_seconds: '0' })).status, 303);
    return decide((await post(`/dashboard/keys/${target.id}/revoke`, {})).status, 303);
  }

  // ---- keys: the JSON API (Bearer) and the CLI (`keyward keys …` with the key in KEYWARD_API_KEY)

  async function viaKeyApi(scope: string, action: Action): Promise<boolean> {
    const key = await owner.createKey({ name: `actor-${scope}`, scope });
    const bearer = { authorization: `Bearer ${key.raw_key}` };
    const anon = new HttpAgent(server.base);
    const asked = SCOPE_OF[action];
    if (asked) return decide((await anon.req('POST', '/api/developers/keys', { name: 'matrix', scope: asked }, bearer)).status, 201);
    const target = action === 'revoke a key it made' ? key : await ownersKey();
    if (action.startsWith('rotate'))
      return decide((await anon.req('POST', `/api/developers/keys/${target.id}/rotate`, {}, bearer)).status, 201);
    return decide((await anon.req('DELETE', `/api/developers/keys/${target.id}`, undefined, bearer)).status, 200);
  }

  async function viaCli(scope: string, action: Action): Promise<boolean> {
    const key = await owner.createKey({ name: `cli-${scope}`, scope });
    const env = { KEYWARD_SERVER: server.base, KEYWARD_API_KEY: key.raw_key };
    const lines: string[] = [];
    const run = async (...args: string[]) => {
      try {
        await buildServerProgram(env, (l) => void lines.push(l))
          .exitOverride()
          .parseAsync(['node', 'keyward-server', 'keys', ...args]);
        return true;
      } catch (error) {
        if (!/^403 forbidden/.test((error as Error).message)) throw error;
        return false;
      }
    };
    const asked = SCOPE_OF[action];
    if (asked) return run('create', '--name', 'matrix', '--scope', asked);
    const target = action === 'revoke a key it made' ? key : await ownersKey();
    return action.startsWith('rotate') ? run('rotate', target.id, '--grace', '0') : run('revoke', target.id);
  }

  for (const [action, row] of Object.entries(MATRIX) as [Action, Record<Actor, boolean>][]) {
    it(`${action}: ${Object.entries(row)
      .map(([actor, ok]) => `${actor} ${ok ? 'yes' : 'no'}`)
      .join(', ')}`, async () => {
      for (const role of ['read', 'write', 'admin'] as const) {
        const agent = members.get(role) as HttpAgent;
        const want = row[`member ${role}`];
        expect({ surface: 'API', role, allowed: await viaApi(agent, action) }).toEqual({ surface: 'API', role, allowed: want });
        expect({ surface: 'dashboard', role, allowed: await viaDashboard(agent, action) }).toEqual({
          surface: 'dashboard',
          role,
          allowed: want,
        });
      }
      for (const scope of ['read', 'write', 'admin'] as const) {
        const want = row[`key ${scope}`];
        expect({ surface: 'API', scope, allowed: await viaKeyApi(scope, action) }).toEqual({ surface: 'API', scope, allowed: want });
        expect({ surface: 'CLI', scope, allowed: await viaCli(scope, action) }).toEqual({ surface: 'CLI', scope, allowed: want });
      }
    }, 60_000);
  }
});

/** A yes is the surface's success status; a no must be a 403 (anything else is neither answer). */
function decide(status: number, success: number): boolean {
  if (status === success) return true;
  if (status === 403) return false;
  throw new Error(`expected ${success} or 403, got ${status}`);
}
