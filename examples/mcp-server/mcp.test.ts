import type { Server } from 'node:http';
import { createServer } from 'node:net';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { remoteVerifier } from '../../packages/middleware/src/index.js';
import { HttpAgent, startKeyward } from '../support.js';
import { mcpExample } from './app.js';

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => ok(port));
    });
    s.on('error', fail);
  });
}

/** The person at the consent page: signed in, approves what the URL asks (or `narrow` instead), returns the redirect. */
async function approve(person: HttpAgent, authorizeUrl: string, narrow?: string): Promise<URL> {
  const u = new URL(authorizeUrl);
  if (narrow) u.searchParams.set('scope', narrow);
  const page = await fetch(u, { headers: { cookie: person.cookie } });
  const html = await page.text();
  expect(page.status, html.slice(0, 300)).toBe(200);
  const fields = Object.fromEntries([...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1], m[2]]));
  const decode = (s: string) =>
    s
      .replace(/&amp;/g, '&')
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>');
  const form = new URLSearchParams(Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, decode(v as string)])));
  form.set('decision', 'approve');
  const done = await fetch(new URL('/auth/cli', u), {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: person.cookie, 'content-type': 'application/x-www-form-urlencoded', origin: u.origin },
    body: form,
  });
  expect(done.status).toBe(303);
  return new URL(done.headers.get('location') as string);
}

/** A stock MCP client (the official SDK and its OAuth provider interface), knowing nothing of keyward. */
async function stockClient(endpoint: string, person: HttpAgent, narrow?: string) {
  const redirectUrl = 'http://127.0.0.1:65530/callback';
  const saved: { client?: unknown; tokens?: unknown; verifier?: string; url?: URL } = {};
  const provider = {
    get redirectUrl() {
      return redirectUrl;
    },
    get clientMetadata() {
      return {
        client_name: 'stock MCP client',
        redirect_uris: [redirectUrl],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      };
    },
    clientInformation: () => saved.client as never,
    saveClientInformation: (c: unknown) => {
      saved.client = c;
    },
    tokens: () => saved.tokens as never,
    saveTokens: (t: unknown) => {
      saved.tokens = t;
    },
    redirectToAuthorization: (url: URL) => {
      saved.url = url;
    },
    saveCodeVerifier: (v: string) => {
      saved.verifier = v;
    },
    codeVerifier: () => saved.verifier as string,
  };
  const connect = async () => {
    const client = new Client({ name: 'stock', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider }));
    return client;
  };
  const first = new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider });
  await expect(new Client({ name: 'stock', version: '1.0.0' }).connect(first)).rejects.toBeInstanceOf(UnauthorizedError);
  const back = await approve(person, (saved.url as URL).href, narrow);
  expect(back.searchParams.get('iss')).toBeTruthy();
  await first.finishAuth(back.searchParams.get('code') as string);
  return { client: await connect(), saved };
}

describe('an MCP server protected by keyward, used by a stock MCP client', () => {
  let keyward: Awaited<ReturnType<typeof startKeyward>>;
  let server: Server;
  let endpoint: string;
  let person: HttpAgent;

  beforeAll(async () => {
    const port = await freePort();
    keyward = await startKeyward({ public_url: `http://127.0.0.1:${port}` }, port);
    const mcpPort = await freePort();
    endpoint = `http://127.0.0.1:${mcpPort}/mcp`;
    const { app } = mcpExample({ verifier: remoteVerifier({ baseUrl: keyward.url }), keyward: keyward.url, resource: endpoint });
    server = await new Promise<Server>((ok) => {
      const s = app.listen(mcpPort, '127.0.0.1', () => ok(s));
    });
    person = await HttpAgent.newAccount(keyward.url, 'mcp-owner@example.com');
  });
  afterAll(async () => {
    server?.close();
    await keyward?.keyward.close();
  });

  it('GET / answers without a key: the MCP endpoint to call and the keyward server its keys come from', async () => {
    const r = await fetch(new URL('/', endpoint));
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({
      example: 'mcp-server',
      resource: endpoint,
      authorization_server: keyward.url,
      routes: [{ method: 'POST', path: '/mcp' }],
    });
  });

  it('answers 401 pointing at its RFC 9728 metadata, which names keyward', async () => {
    const r = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(r.status).toBe(401);
    const challenge = r.headers.get('www-authenticate') ?? '';
    const at = /resource_metadata="([^"]+)"/.exec(challenge)?.[1] as string;
    expect(at).toBe(`${new URL(endpoint).origin}/.well-known/oauth-protected-resource/mcp`);
    for (const url of [at, `${new URL(endpoint).origin}/.well-known/oauth-protected-resource`]) {
      expect(await (await fetch(url)).json()).toEqual({
        resource: endpoint,
        authorization_servers: [keyward.url],
        scopes_supported: ['read', 'write'],
        bearer_methods_supported: ['header'],
        resource_name: 'keyward notes (MCP example)',
      });
    }
  });

  it('the client registers, the person approves, the key is bound to this server and sees the tools of its scope', async () => {
    const { client } = await stockClient(endpoint, person);
    const tools = (await client.listTools()).tools.map((t) => t.name).sort();
    expect(tools).toEqual(['create_note', 'delete_note', 'list_notes', 'whoami']);
    const made = await client.callTool({ name: 'create_note', arguments: { text: 'from a stock client' } });
    expect(JSON.stringify(made.content)).toContain('Kept note');
    const who = await client.callTool({ name: 'whoami', arguments: {} });
    const key = JSON.parse((who.content as { text: string }[])[0]?.text ?? '{}');
    expect(key).toMatchObject({ scope: 'write', agent: expect.stringMatching(/^mcp_/) });
    const stored = await person.req('GET', `/api/developers/keys/${key.key}`);
    expect(stored.body.key.resource).toBe(endpoint);
    await client.close();
  });

  it('a person who approves read only gives a key that lists only the read tools', async () => {
    const { client } = await stockClient(endpoint, person, 'read');
    const tools = (await client.listTools()).tools;
    expect(tools.map((t) => t.name).sort()).toEqual(['list_notes', 'whoami']);
    expect(tools.every((t) => t.annotations?.readOnlyHint === true)).toBe(true);
    await client.close();
  });

  it('a read key calling a write tool is stepped up: 403 insufficient_scope, the consent page again, then a write key', async () => {
    const { client, saved } = await stockClient(endpoint, person, 'read');
    const call = { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'create_note', arguments: { text: 'x' } } };
    const raw = await fetch(endpoint, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${(saved.tokens as { access_token: string }).access_token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify(call),
    });
    expect(raw.status).toBe(403);
    expect(raw.headers.get('www-authenticate')).toMatch(/^Bearer error="insufficient_scope", scope="write", resource_metadata="http/);
    // The stock client asks the person again, for write, through keyward's consent page.
    saved.url = undefined;
    await expect(client.callTool({ name: 'create_note', arguments: { text: 'stepped up' } })).rejects.toBeInstanceOf(UnauthorizedError);
    const again = saved.url as URL | undefined;
    expect(again?.searchParams.get('scope')).toContain('write');
    const back = await approve(person, (again as URL).href);
    await (client.transport as StreamableHTTPClientTransport).finishAuth(back.searchParams.get('code') as string);
    const made = await client.callTool({ name: 'create_note', arguments: { text: 'stepped up' } });
    expect(made.isError).toBeFalsy();
    expect(JSON.stringify(made.content)).toContain('Kept note');
    await client.close();
  });

  it('a key bound to another resource is refused with 401 and the metadata pointer', async () => {
    const parent = await person.createKey({ name: 'mcp parent', scope: 'read' });
    const other = await person.req(
      'POST',
      '/v1/keys/derive',
      { resource: 'http://127.0.0.1:9/mcp' },
      { authorization: `Bearer ${parent.raw_key}` },
    );
    const init = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
    };
    const r = await fetch(endpoint, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${other.body.key.raw_key}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify(init),
    });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token", resource_metadata="/);
    expect((await r.json()).error.reason).toBe('wrong_resource');
    const unbound = await fetch(endpoint, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${parent.raw_key}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify(init),
    });
    expect(unbound.status).toBe(200);
  });
});
