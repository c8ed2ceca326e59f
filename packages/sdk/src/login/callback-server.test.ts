import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import { startCallbackServer } from './callback-server.js';

function get(
  port: number,
  path: string,
  host = `127.0.0.1:${port}`,
  method = 'GET',
  address = '127.0.0.1',
): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((ok, fail) => {
    const req = request({ host: address, port, path, method, headers: { host }, timeout: 2000 }, (res) => {
      res.resume();
      ok({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.on('error', fail);
    req.end();
  });
}

describe('the one-shot callback server', () => {
  it('ignores wrong state, wrong Host, other paths and methods — each a 4xx — and ends on the right callback', async () => {
    const cb = await startCallbackServer({ timeoutMs: 10_000, requireParam: (p) => p.has('code') });
    cb.setState('right-state');
    const waiting = cb.wait();
    expect((await get(cb.port, '/callback?code=x&state=wrong')).status).toBe(400);
    expect((await get(cb.port, '/callback?code=x&state=right-state', 'evil.example')).status).toBe(400);
    expect((await get(cb.port, '/callback?code=x&state=right-state', `localhost:${cb.port}`)).status).toBe(400);
    expect((await get(cb.port, '/other?code=x&state=right-state')).status).toBe(404);
    expect((await get(cb.port, '/callback?code=x&state=right-state', undefined, 'POST')).status).toBe(404);
    expect((await get(cb.port, '/callback?state=right-state')).status).toBe(400);
    const ok = await get(cb.port, '/callback?code=the-code&state=right-state');
    expect(ok.status).toBe(200);
    expect(ok.headers['cache-control']).toBe('no-store');
    expect(ok.headers['referrer-policy']).toBe('no-referrer');
    const { params } = await waiting;
    expect(params.get('code')).toBe('the-code');
    await expect(get(cb.port, '/callback?code=again&state=right-state')).rejects.toThrow();
  });

  it('is not reachable on a non-loopback address', async () => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    const cb = await startCallbackServer({ timeoutMs: 5000, requireParam: () => true });
    try {
      if (external) await expect(get(cb.port, '/callback', `${external}:${cb.port}`, 'GET', external)).rejects.toThrow();
      await expect(get(cb.port, '/callback', `[::1]:${cb.port}`, 'GET', '::1')).rejects.toThrow();
    } finally {
      await cb.close();
    }
  });

  it('an error answer with the right state ends the flow as a refusal; silence ends it at the timeout', async () => {
    const cb = await startCallbackServer({ timeoutMs: 10_000, requireParam: () => true });
    cb.setState('s');
    const waiting = cb.wait().catch((e: Error) => e);
    await get(cb.port, '/callback?error=access_denied&state=s');
    expect(String(await waiting)).toMatch(/not approved \(access_denied\)/);
    const slow = await startCallbackServer({ timeoutMs: 200, requireParam: () => true });
    await expect(slow.wait()).rejects.toThrow(/within 0 seconds|within 1 seconds/);
  });
});
