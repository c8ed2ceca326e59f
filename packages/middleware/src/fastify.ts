import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { createGuard, type Decision, type GuardStats, type ProtectOptions, type RouteRule } from './protect.js';
import type { VerifiedKey } from './verifier.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The key that made this request, or null when it came without one (open route, optional enforcement). */
    keyward: VerifiedKey | null;
  }
  interface FastifyContextConfig {
    /** This route's rule: `{ scope: 'agentic' }`, `{ open: true }`. Default: `read` for GET/HEAD, else `write`. */
    keyward?: RouteRule;
  }
  interface FastifyInstance {
    keywardStats: GuardStats;
  }
}

/**
 * Fastify plugin: every route needs a key unless its config says otherwise.
 *
 * @example
 * ```ts
 * await app.register(keywardFastify, { verifier, environment: 'live' });
 * app.get('/list', { config: { keyward: { open: true } } }, () => agents);
 * app.post('/evaluations', { config: { keyward: { scope: 'agentic' } } }, (req) => evaluate(req.keyward));
 * ```
 */
const plugin: FastifyPluginCallback<ProtectOptions> = (app, options, done) => {
  const guard = createGuard(options);
  app.decorate('keywardStats', guard.stats);
  app.decorateRequest('keyward', null);
  const metadata = guard.metadata;
  if (metadata) {
    // RFC 9728: the protected resource's metadata, open to anyone (clients read it before they have a key).
    for (const path of metadata.paths) {
      app.get(path, { config: { keyward: { open: true } } }, async (_req, reply) =>
        reply.header('access-control-allow-origin', '*').send(metadata.document),
      );
    }
  }
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, next: (err?: Error) => void) => {
    const url = request.url;
    const q = url.indexOf('?');
    const decision = guard.decide(
      {
        method: request.method,
        path: q === -1 ? url : url.slice(0, q),
        authorization: request.headers.authorization,
        remoteAddress: request.socket.remoteAddress ?? '',
        forwardedFor: request.headers['x-forwarded-for'],
      },
      request.routeOptions.config?.keyward,
    );
    const apply = (d: Decision) => {
      if (d.ok) {
        request.keyward = d.key;
        for (const name in d.headers) reply.header(name, d.headers[name]);
        next();
      } else {
        reply.code(d.status).headers(d.headers).send(d.body);
      }
    };
    if (decision instanceof Promise) decision.then(apply, next);
    else apply(decision);
  });
  done();
};

export const keywardFastify = fp(plugin, { name: '@keyward/middleware', fastify: '5.x' });
export type { ProtectOptions, RouteRule } from './protect.js';
export { remoteVerifier } from './remote-verifier.js';
