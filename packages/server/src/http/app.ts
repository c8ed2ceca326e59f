import { KeywardError, randomBase62 } from '@keyward/core';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { AppContext, RouteDoc } from './context.js';
import { envelopeHandler, frameworkErrors, oauthHandler, pageHandler, surfaceOf } from './errors.js';
import { authPages } from './pages/auth-pages.js';
import { detailPages } from './pages/detail-pages.js';
import { keysPages } from './pages/keys-pages.js';
import { overviewPage } from './pages/overview-page.js';
import { signInPages } from './pages/sign-in-pages.js';
import { authRoutes } from './routes/auth.js';
import { keyRoutes } from './routes/keys.js';
import { memberRoutes } from './routes/members.js';
import { oauthRoutes } from './routes/oauth.js';
import { systemRoutes } from './routes/system.js';
import { verifyRoutes } from './routes/verify.js';

const CLIENT_ERROR = JSON.stringify({ error: { code: 'invalid_request', message: 'The request could not be parsed.' } });

/** HTML forms and OAuth clients post `application/x-www-form-urlencoded`; the JSON API refuses it (415). */
function acceptForms(app: FastifyInstance): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16 * 1024 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
}

/** The HTTP server: routes, the error envelope, request ids, and logs that never carry secrets or query strings. */
export function buildApp(ctx: AppContext, logger: Logger): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
    trustProxy: false,
    genReqId: () => `req_${randomBase62(20)}`,
    routerOptions: { maxParamLength: 200, ignoreTrailingSlash: true },
    frameworkErrors,
    clientErrorHandler(_err, socket) {
      if (socket.writable) {
        socket.end(
          `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(CLIENT_ERROR)}\r\nConnection: close\r\n\r\n${CLIENT_ERROR}`,
        );
      }
    },
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
  app.addHook('onResponse', async (req, reply) => {
    req.log.info(
      { method: req.method, path: req.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    );
  });

  const docs: RouteDoc[] = [];
  // Three parts, each an encapsulated plugin with its own error shape: the JSON API answers in the envelope, the
  // OAuth endpoints in RFC 6749's shape, the dashboard with pages. Only the last two take form bodies.
  void app.register(async (api) => {
    api.setErrorHandler(envelopeHandler);
    systemRoutes(api, ctx, docs);
    authRoutes(api, ctx, docs);
    memberRoutes(api, ctx, docs);
    keyRoutes(api, ctx, docs);
    verifyRoutes(api, ctx, docs);
  });
  void app.register(async (oauth) => {
    oauth.setErrorHandler(oauthHandler);
    acceptForms(oauth);
    oauthRoutes(oauth, ctx, docs);
  });
  void app.register(async (pages) => {
    pages.setErrorHandler(pageHandler);
    acceptForms(pages);
    authPages(pages, ctx);
    signInPages(pages, ctx);
    overviewPage(pages, ctx);
    keysPages(pages, ctx);
    detailPages(pages, ctx);
  });
  return app;
}
