import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { constantTimeEqual } from '@keyward/core';

export interface CallbackResult {
  params: URLSearchParams;
}

const PAGE = (title: string, text: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body style="font:16px system-ui,sans-serif;margin:15vh auto;max-width:30em;text-align:center"><h1>${title}</h1><p>${text}</p></body></html>`;

function answer(res: ServerResponse, status: number, title: string, text: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
    'x-content-type-options': 'nosniff',
    connection: 'close',
  });
  res.end(PAGE(title, text));
}

/**
 * The one-shot callback server of a loopback sign-in. It listens on 127.0.0.1 only, on a port the OS picks, and
 * ends the flow on exactly one request: `GET /callback` with the expected `state`, sent to `Host: 127.0.0.1:<port>`.
 * Anything else gets a 4xx and the flow goes on. It never logs a request line or a query string.
 *
 * @example
 * ```ts
 * const cb = await startCallbackServer({ timeoutMs: 300_000, requireParam: (p) => p.has('code') });
 * cb.setState(state);
 * console.error(`open ${authorizeUrl(cb.callbackUrl)}`);
 * const { params } = await cb.wait(); // params.get('code')
 * ```
 */
export async function startCallbackServer(options: { timeoutMs: number; requireParam: (p: URLSearchParams) => boolean }) {
  let resolveResult!: (r: CallbackResult) => void;
  let rejectResult!: (e: Error) => void;
  const result = new Promise<CallbackResult>((ok, fail) => {
    resolveResult = ok;
    rejectResult = fail;
  });
  // Nobody may be waiting yet when the flow ends (a refusal, a timeout): that is not an unhandled rejection.
  result.catch(() => {});
  let expectedState = '';
  let done = false;

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const port = (server.address() as AddressInfo).port;
    if (done) return answer(res, 410, 'Already done', 'This sign-in has finished; you can close this tab.');
    if (req.headers.host !== `127.0.0.1:${port}`) return answer(res, 400, 'Wrong host', 'This address only answers as 127.0.0.1.');
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    if (req.method !== 'GET' || url.pathname !== '/callback') return answer(res, 404, 'Not found', 'Nothing here.');
    const state = url.searchParams.get('state') ?? '';
    if (!constantTimeEqual(state, expectedState))
      return answer(res, 400, 'Sign-in not recognised', 'This response does not belong to the sign-in in progress.');
    if (url.searchParams.get('error')) {
      done = true;
      answer(res, 200, 'Sign-in cancelled', 'No key was created. You can close this tab.');
      rejectResult(new Error(`the sign-in was not approved (${url.searchParams.get('error')})`));
      return;
    }
    if (!options.requireParam(url.searchParams)) return answer(res, 400, 'Incomplete response', 'The response carries no code.');
    done = true;
    answer(res, 200, 'Signed in', 'Your agent has its key. You can close this tab.');
    resolveResult({ params: url.searchParams });
  });
  server.on('clientError', (_err, socket) => socket.destroy());

  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const port = (server.address() as AddressInfo).port;
  const timer = setTimeout(() => {
    done = true;
    rejectResult(new Error(`no sign-in arrived within ${Math.round(options.timeoutMs / 1000)} seconds`));
  }, options.timeoutMs);
  timer.unref();

  const close = () =>
    new Promise<void>((ok) => {
      clearTimeout(timer);
      server.close(() => ok());
      server.closeAllConnections();
    });

  return {
    port,
    callbackUrl: `http://127.0.0.1:${port}/callback`,
    setState(state: string) {
      expectedState = state;
    },
    /** Resolves with the callback's parameters; the server is closed either way. */
    async wait(): Promise<CallbackResult> {
      try {
        return await result;
      } finally {
        await close();
      }
    },
    close,
  };
}
