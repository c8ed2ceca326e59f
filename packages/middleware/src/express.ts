import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { createGuard, type Decision, type ProtectOptions, type RouteRule } from './protect.js';
import type { VerifiedKey } from './verifier.js';

declare global {
  namespace Express {
    interface Request {
      /** The key that made this request, or null when it came without one. */
      keyward?: VerifiedKey | null;
    }
  }
}

/**
 * Express middleware. `protect(rule?)` guards what follows it; `open()` lets a route through without a key (a key
 * that is presented is still checked).
 *
 * @example
 * ```ts
 * const kw = keywardExpress({ verifier, enforcement: process.env.KEYS_REQUIRED ? 'required' : 'optional' });
 * app.get('/list', kw.open(), listAgents);
 * app.post('/register', kw.protect(), register);
 * app.post('/evaluations', kw.protect({ scope: 'agentic' }), evaluate);
 * ```
 */
export function keywardExpress(options: ProtectOptions) {
  const guard = createGuard(options);
  const protect = (rule: RouteRule = {}): RequestHandler => {
    return (req: Request, res: Response, next: NextFunction) => {
      const decision = guard.decide(
        {
          method: req.method,
          path: req.path,
          authorization: req.headers.authorization,
          remoteAddress: req.socket.remoteAddress ?? '',
          forwardedFor: req.headers['x-forwarded-for'],
        },
        rule,
      );
      const apply = (d: Decision) => {
        if (d.ok) {
          req.keyward = d.key;
          res.set(d.headers);
          next();
        } else {
          res.status(d.status).set(d.headers).json(d.body);
        }
      };
      if (decision instanceof Promise) decision.then(apply, next);
      else apply(decision);
    };
  };
  const metadata = guard.metadata;
  /**
   * With `protectedResource`: serves its RFC 9728 metadata at the well-known paths (`app.use(kw.wellKnown())`), and
   * passes every other request on.
   */
  const wellKnown = (): RequestHandler => (req, res, next) => {
    if (!metadata || (req.method !== 'GET' && req.method !== 'HEAD') || !metadata.paths.includes(req.path)) return next();
    res.set('access-control-allow-origin', '*').json(metadata.document);
  };
  return { protect, open: () => protect({ open: true }), wellKnown, stats: guard.stats };
}

export type { ProtectOptions, RouteRule } from './protect.js';
export { remoteVerifier } from './remote-verifier.js';
