import swagger from '@fastify/swagger';
import { KeywardError, randomBase62 } from '@keyward/core';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject, serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { type AppContext, authHook, zodValidator } from './context.js';
import { answerErrorsAs, envelopeHandler, frameworkErrors, pageHandler, surfaceOf } from './errors.js';
import { authPages } from './pages/auth-pages.js';
import { detailPages } from './pages/detail-pages.js';
import { keysPages } from './pages/keys-pages.js';
import { overviewPage } from './pages/overview-page.js';
import { requestsPages } from './pages/requests-pages.js';
import { signInPages } from './pages/sign-in-pages.js';
import { webhookPages } from './pages/webhook-pages.js';
import { authRoutes } from './routes/auth.js';
import { delegationRoutes } from './routes/delegation.js';
import { importRoutes } from './routes/import.js';
import { keyRoutes } from './routes/keys.js';
import { leakRoutes } from './routes/leaks.js';
import { memberRoutes } from './routes/members.js';
import { oauthRoutes } from './routes/oauth.js';
import { scopeRequestRoutes } from './routes/scope-requests.js';
import { systemRoutes } from './routes/system.js';
import { verifierRoutes } from './routes/verifier.js';
import { verifyRoutes } from './routes/verify.js';
import { webhookRoutes } from './routes/webhooks.js';
import { checkText } from './text-rule.js';

const CLIENT_ERROR = JSON.stringify({ error: { code: 'invalid_request', message: 'The request could not be parsed.' } });
const REQUEST_TIMEOUT = JSON.stringify({ error: { code: 'invalid_request', message: 'The request took too long to arrive.' } });

/** HTML forms and OAuth clients post `application/x-www-form-urlencoded`; the JSON API refuses it (415). */
function acceptForms(app: FastifyInstance): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16 * 1024 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
}

type SwaggerTransform = Parameters<typeof jsonSchemaTransform>[0];

/** A route's OpenAPI entry from its zod schemas, plus its error answers: the envelope, or OAuth's shape for OAuth endpoints. */
function withErrorAnswers(document: SwaggerTransform) {
  const out = jsonSchemaTransform(document);
  if (!out.schema || (out.schema as { hide?: boolean }).hide) return out;
  const error = document.route.config?.surface === 'oauth' ? 'OAuthError' : 'Error';
  const schema = out.schema as { response?: Record<string, unknown> };
  schema.response = {
    ...schema.response,
    default: { description: `An error (${error})`, content: { 'application/json': { schema: { $ref: `#/components/schemas/${error}` } } } },
  };
  return out;
}

/** The document with the named schemas routes refer to (zod's registry also holds input twins no route uses). */
function onlyUsedSchemas(document: Parameters<typeof jsonSchemaTransformObject>[0]) {
  const doc = jsonSchemaTransformObject(document);
  const components = (doc as { components?: { schemas?: Record<string, unknown> } }).components;
  const schemas = components?.schemas ?? {};
  const text = JSON.stringify({ ...doc, components: { ...components, schemas: undefined } });
  const used = new Set([...text.matchAll(/#\/components\/schemas\/(\w+)/g)].map((m) => m[1]));
  // A used schema may refer to others: follow the references until nothing new turns up.
  for (let grew = true; grew; ) {
    grew = false;
    for (const name of [...used]) {
      for (const m of JSON.stringify(schemas[name as string] ?? {}).matchAll(/#\/components\/schemas\/(\w+)/g)) {
        if (!used.has(m[1])) {
          used.add(m[1]);
          grew = true;
        }
      }
    }
  }
  if (components) components.schemas = Object.fromEntries(Object.entries(schemas).filter(([name]) => used.has(name)));
  return doc;
}

/** The HTTP server: routes, the error envelope, request ids, and logs that never carry secrets or query strings. */
export function buildApp(ctx: AppContext, logger: Logger): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
    // Slow and idle clients are cut off (408 or a closed socket) so they cannot hold connections: whole request,
    // headers, the wait for the next request on a kept-alive connection, and silence of any kind. Node checks the
    // first two every second here (its default is every 30 s).
    requestTimeout: ctx.config.http.requestTimeoutMs,
    keepAliveTimeout: ctx.config.http.keepAliveTimeoutMs,
    connectionTimeout: ctx.config.http.idleTimeoutMs,
    http: { headersTimeout: ctx.config.http.headersTimeoutMs, connectionsCheckingInterval: 1000 },
    trustProxy: false,
    genReqId: () => `req_${randomBase62(20)}`,
    routerOptions: { maxParamLength: 200, ignoreTrailingSlash: true },
    frameworkErrors,
    clientErrorHandler(err, socket) {
      // A client too slow (request or headers timeout) gets 408, a malformed request 400; either way the socket is
      // closed at once, so it holds nothing while the client keeps trickling bytes.
      const timedOut = (err as NodeJS.ErrnoException).code === 'ERR_HTTP_REQUEST_TIMEOUT';
      const body = timedOut ? REQUEST_TIMEOUT : CLIENT_ERROR;
      if (!socket.writable) return socket.destroy();
      socket.end(
        `HTTP/1.1 ${timedOut ? '408 Request Timeout' : '400 Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        () => socket.destroy(),
      );
    },
  });

  // Route schemas are zod schemas: requests validated (errors name the field, in each plugin's shape), answers
  // checked against what the route promises, and /openapi.json generated from both by @fastify/swagger.
  app.setValidatorCompiler(zodValidator);
  app.setSerializerCompiler(serializerCompiler);
  app.decorateRequest('actor', null);
  app.decorateRequest('withKey', false);
  void app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'keyward',
        version: '0.1.0',
        description: 'API keys for APIs that AI agents call. Errors use the `Error` envelope; the OAuth endpoints use `OAuthError`.',
      },
      servers: [{ url: ctx.config.publicUrl }],
      components: {
        securitySchemes: {
          cookie: { type: 'apiKey', in: 'cookie', name: 'access_token' },
          bearer: { type: 'http', scheme: 'bearer' },
        },
      },
    },
    // Only routes with a tag are documented: the JSON API and OAuth endpoints, not the dashboard's pages.
    hideUntagged: true,
    transform: withErrorAnswers,
    transformObject: onlyUsedSchemas,
  });

  app.setErrorHandler(envelopeHandler);
  app.setNotFoundHandler((req, reply) => {
    const error = new KeywardError('not_found', `No route for ${req.method} ${req.url.split('?')[0]}.`);
    const surface = surfaceOf(req.url);
    return surface === 'page' ? pageHandler(error, req, reply) : envelopeHandler(error, req, reply);
  });
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'same-origin');
  });
  // One rule for text before any route's own validation: no control characters, no JSON nested too deep.
  app.addHook('preValidation', async (req) => checkText(req));
  app.addHook('onResponse', async (req, reply) => {
    req.log.info(
      { method: req.method, path: req.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    );
  });

  // Three parts, each an encapsulated plugin with its own error shape: the JSON API answers in the envelope, the
  // OAuth endpoints in RFC 6749's shape, the dashboard with pages. Only the last two take form bodies.
  void app.register(async (plugin) => {
    answerErrorsAs(plugin, 'api');
    const api = plugin.withTypeProvider<ZodTypeProvider>();
    api.addHook('preValidation', authHook(ctx));
    systemRoutes(api, ctx);
    authRoutes(api, ctx);
    memberRoutes(api, ctx);
    keyRoutes(api, ctx);
    delegationRoutes(api, ctx);
    verifyRoutes(api, ctx);
    verifierRoutes(api, ctx);
    webhookRoutes(api, ctx);
    leakRoutes(api, ctx);
    importRoutes(api, ctx);
  });
  void app.register(async (plugin) => {
    answerErrorsAs(plugin, 'oauth');
    const oauth = plugin.withTypeProvider<ZodTypeProvider>();
    acceptForms(oauth);
    oauthRoutes(oauth, ctx);
    scopeRequestRoutes(oauth, ctx);
  });
  void app.register(async (pages) => {
    answerErrorsAs(pages, 'page');
    acceptForms(pages);
    authPages(pages, ctx);
    signInPages(pages, ctx);
    overviewPage(pages, ctx);
    keysPages(pages, ctx);
    detailPages(pages, ctx);
    webhookPages(pages, ctx);
    requestsPages(pages, ctx);
  });
  return app;
}
