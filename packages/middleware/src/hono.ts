import type { Context, MiddlewareHandler } from 'hono';
import { createGuard, type ProtectOptions, type RouteRule } from './protect.js';
import type { VerifiedKey } from './verifier.js';

export interface HonoProtectOptions extends ProtectOptions {
  /** The socket address; by default read from `@hono/node-server`'s `c.env.incoming`. */
  remoteAddress?: (c: Context) => string;
}

export type KeywardVariables = { keyward: VerifiedKey | null };

const nodeAddress = (c: Context): string =>
  (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress ?? '';

/**
 * Hono middleware.
 *
 * @example
 * ```ts
 * const kw = keywardHono({ verifier, environment: 'test' });
 * app.use('/accounts/*', kw.protect());
 * app.get('/accounts', kw.protect(), (c) => c.json({ owner: c.get('keyward')?.organizationId }));
 * ```
 */
export function keywardHono(options: HonoProtectOptions) {
  const guard = createGuard(options);
  const address = options.remoteAddress ?? nodeAddress;
  const protect = (rule: RouteRule = {}): MiddlewareHandler<{ Variables: KeywardVariables }> => {
    return async (c, next) => {
      const d = await guard.decide(
        {
          method: c.req.method,
          path: c.req.path,
          authorization: c.req.header('authorization'),
          remoteAddress: address(c),
          forwardedFor: c.req.header('x-forwarded-for'),
        },
        rule,
      );
      if (!d.ok) return c.json(d.body, d.status as 401, d.headers);
      c.set('keyward', d.key);
      for (const name in d.headers) c.header(name, d.headers[name]);
      await next();
    };
  };
  const metadata = guard.metadata;
  /**
   * With `protectedResource`: serves its RFC 9728 metadata at the well-known paths (`app.use(kw.wellKnown())`), and
   * passes every other request on.
   */
  const wellKnown = (): MiddlewareHandler => async (c, next) => {
    if (!metadata || (c.req.method !== 'GET' && c.req.method !== 'HEAD') || !metadata.paths.includes(c.req.path)) return next();
    return c.json(metadata.document, 200, { 'access-control-allow-origin': '*' });
  };
  return { protect, open: () => protect({ open: true }), wellKnown, stats: guard.stats };
}

export type { ProtectOptions, RouteRule } from './protect.js';
export { remoteVerifier } from './remote-verifier.js';
