import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { type AppContext, type RouteDoc, route } from '../context.js';

export function systemRoutes(app: FastifyInstance, ctx: AppContext, docs: RouteDoc[]): void {
  const tag = 'system';
  route(app, docs, { method: 'GET', path: '/health', summary: 'Liveness', auth: 'none', tag }, async () => ({ status: 'ok' }));

  route(app, docs, { method: 'GET', path: '/metrics', summary: 'Prometheus metrics', auth: 'none', tag }, async (_req, reply) => {
    reply.header('content-type', ctx.metrics.registry.contentType);
    return ctx.metrics.registry.metrics();
  });

  route(app, docs, { method: 'GET', path: '/openapi.json', summary: 'This document', auth: 'none', tag }, async () => openApi(ctx, docs));
}

const SECURITY: Record<RouteDoc['auth'], unknown[]> = {
  none: [],
  session: [{ cookie: [] }],
  management: [{ cookie: [] }, { bearer: [] }],
  key: [{ bearer: [] }],
};

/** The OpenAPI 3.1 document, generated from the routes as registered and the zod schemas they validate with. */
export function openApi(ctx: AppContext, docs: RouteDoc[]) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const d of docs) {
    const path = d.path.replace(/:(\w+)/g, '{$1}');
    const params = [...d.path.matchAll(/:(\w+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    paths[path] ??= {};
    paths[path][d.method.toLowerCase()] = {
      summary: d.summary,
      tags: [d.tag],
      security: SECURITY[d.auth],
      ...(params.length ? { parameters: params } : {}),
      ...(d.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: z.toJSONSchema(d.body, { io: 'input' }) } } } }
        : {}),
      responses: {
        default: {
          description: 'Errors use the envelope',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'keyward', version: '0.1.0', description: 'API keys for APIs that AI agents call.' },
    servers: [{ url: ctx.config.publicUrl }],
    paths,
    components: {
      securitySchemes: {
        cookie: { type: 'apiKey', in: 'cookie', name: 'access_token' },
        bearer: { type: 'http', scheme: 'bearer' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: { code: { type: 'string' }, message: { type: 'string' }, request_id: { type: 'string' } },
            },
          },
        },
      },
    },
  };
}
