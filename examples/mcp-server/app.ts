import { randomUUID } from 'node:crypto';
import { type Scope, scopeAllows } from '@keyward/core';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import express from 'express';
import { z } from 'zod';
import { keywardExpress } from '../../packages/middleware/src/express.js';
import type { KeyVerifier, VerifiedKey } from '../../packages/middleware/src/index.js';
import { aboutExample } from '../about.js';

/** A note the tools keep, in memory: what an MCP server's data would be. */
interface Note {
  id: string;
  text: string;
  author: string;
  at: string;
}

/** The scope each tool needs: what the tool list is filtered by, and what a call of a tool beyond the key asks for. */
const TOOL_SCOPES: Record<string, Scope> = { whoami: 'read', list_notes: 'read', create_note: 'write', delete_note: 'write' };

/** The highest scope the JSON-RPC message (or batch) needs for the tools it calls, beyond `have`; null when none. */
function stepUpScope(body: unknown, have: Scope): Scope | null {
  for (const m of Array.isArray(body) ? body : [body]) {
    const call = m as { method?: unknown; params?: { name?: unknown } } | null;
    if (call?.method !== 'tools/call' || typeof call.params?.name !== 'string') continue;
    const need = TOOL_SCOPES[call.params.name];
    if (need && !scopeAllows(have, need)) return need;
  }
  return null;
}

/**
 * The tools, each with the scope it needs. A key sees only the tools its scope allows: a `read` key lists and
 * calls the read tools (marked `readOnlyHint`), a `write` key the others too.
 */
function toolsFor(key: VerifiedKey, notes: Note[]): McpServer {
  const server = new McpServer({ name: 'keyward-notes', version: '1.0.0' });
  const may = (scope: Scope) => scopeAllows(key.scope, scope);
  const text = (t: string) => ({ content: [{ type: 'text' as const, text: t }] });
  if (may('read')) {
    server.registerTool(
      'whoami',
      { description: 'Which key this session uses: its name, scope and agent.', annotations: { readOnlyHint: true } },
      async () => text(JSON.stringify({ key: key.id, name: key.name, scope: key.scope, agent: key.agent ?? null })),
    );
    server.registerTool(
      'list_notes',
      { description: 'The notes kept so far, newest first.', annotations: { readOnlyHint: true } },
      async () => text(notes.length === 0 ? 'No notes yet.' : notes.map((n) => `${n.id} ${n.at} ${n.text}`).join('\n')),
    );
  }
  if (may('write')) {
    server.registerTool(
      'create_note',
      {
        description: 'Keep a note.',
        inputSchema: { text: z.string().min(1).max(2000) },
        annotations: { readOnlyHint: false },
      },
      async ({ text: t }) => {
        const note = { id: randomUUID(), text: t, author: key.id, at: new Date().toISOString() };
        notes.unshift(note);
        if (notes.length > 1000) notes.pop();
        return text(`Kept note ${note.id}.`);
      },
    );
    server.registerTool(
      'delete_note',
      {
        description: 'Delete a note by its id.',
        inputSchema: { id: z.string().uuid() },
        annotations: { readOnlyHint: false, destructiveHint: true },
      },
      async ({ id }) => {
        const i = notes.findIndex((n) => n.id === id);
        if (i === -1) return { ...text(`No note ${id}.`), isError: true };
        notes.splice(i, 1);
        return text(`Deleted note ${id}.`);
      },
    );
  }
  return server;
}

export interface McpExampleOptions {
  verifier: KeyVerifier;
  /** The keyward server that issues the keys (the authorization server clients are sent to). */
  keyward: string;
  /** This server's MCP endpoint as clients reach it: the resource keys are bound to. */
  resource: string;
}

/**
 * An MCP server (Streamable HTTP, stateless) protected by keyward: an OAuth protected resource (RFC 9728) whose
 * 401s send stock MCP clients to keyward to register, sign in and get a key, and whose tools are filtered by the
 * key's scope.
 */
export function mcpExample(o: McpExampleOptions) {
  const notes: Note[] = [];
  const kw = keywardExpress({
    verifier: o.verifier,
    protectedResource: {
      resource: o.resource,
      authorizationServers: [o.keyward],
      scopesSupported: ['read', 'write'],
      resourceName: 'keyward notes (MCP example)',
    },
  });
  const app = express();
  app.disable('x-powered-by');
  app.use(kw.wellKnown());
  const path = new URL(o.resource).pathname;
  app.get(
    '/',
    kw.open(),
    (_req, res) =>
      void res.json(
        aboutExample(
          'mcp-server',
          'An MCP server (Streamable HTTP) protected by keyward: a read key sees the read tools, a write key the others too.',
          [{ method: 'POST', path, needs: 'a key (read or write); a JSON-RPC body, e.g. {"jsonrpc":"2.0","id":1,"method":"tools/list"}' }],
          { resource: o.resource, authorization_server: o.keyward, metadata: '/.well-known/oauth-protected-resource' },
        ),
      ),
  );
  // MCP's step-up (2026-07-28): calling a tool beyond the key's scope is a 403 whose challenge names the scope
  // (`error="insufficient_scope", scope="write"`), answered by the middleware's guard for that scope, so that the
  // client authorizes again through keyward's consent page for a key that has it.
  const stepUp = { write: kw.protect({ scope: 'write' }), admin: kw.protect({ scope: 'admin' }) } as const;
  const serve = async (key: VerifiedKey, req: express.Request, res: express.Response) => {
    const server = toolsFor(key, notes);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  };
  app.post(path, kw.protect({ scope: 'read' }), express.json({ limit: '1mb' }), async (req, res) => {
    const key = req.keyward as VerifiedKey;
    const needs = stepUpScope(req.body, key.scope);
    if (needs === 'write' || needs === 'admin') return stepUp[needs](req, res, () => void serve(req.keyward as VerifiedKey, req, res));
    return serve(key, req, res);
  });
  // Stateless: no server-sent event stream to resume and no session to end.
  app.all(path, kw.protect({ scope: 'read' }), (_req, res) => {
    res
      .status(405)
      .set('allow', 'POST')
      .json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null });
  });
  return { app, stats: kw.stats };
}
