import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';

export const ROOT = resolve(import.meta.dirname, '..');

/** Runs `fn` repeatedly for about `ms` and returns operations per second. */
export async function opsPerSecond(fn: () => unknown, ms = 1500): Promise<number> {
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 1000; i++) {
      const r = fn();
      if (r instanceof Promise) await r;
    }
    ops += 1000;
    now = performance.now();
  }
  return (ops * 1000) / (now - start);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

export function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US').padStart(11);
}

export function row(name: string, value: number, baseline: number, target?: string): string {
  const ratio = `${((100 * value) / baseline).toFixed(0)}%`.padStart(6);
  return `${name.padEnd(46)} ${fmt(value)}/s  ${ratio} of baseline${target ? `  (target ${target})` : ''}`;
}

export async function freePort(): Promise<number> {
  return new Promise((ok) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => ok(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/**
 * The real server in its own process with unlimited plans, so no 429 shortens the work; `config` is merged into
 * that config, `env` into the server's environment, `dataDir` shared when given (two servers on one SQLite file).
 */
export async function startServer(
  opts: { config?: Record<string, unknown>; env?: Record<string, string>; dataDir?: string } = {},
): Promise<{ base: string; proc: ChildProcess }> {
  const dir = mkdtempSync(join(tmpdir(), 'kw-bench-'));
  const cfg = join(dir, 'cfg.json');
  writeFileSync(
    cfg,
    JSON.stringify({
      plans: { free: { requests_per_minute: null, monthly_requests: null, max_active_keys: null } },
      log_level: 'warn',
      ...opts.config,
    }),
  );
  const port = await freePort();
  const proc = spawn(
    process.execPath,
    [
      join(ROOT, 'packages/cli/bin/keyward.js'),
      'serve',
      '--port',
      String(port),
      '--data-dir',
      opts.dataDir ?? join(dir, 'data'),
      '--config',
      cfg,
    ],
    { stdio: 'ignore', env: { ...process.env, ...opts.env } },
  );
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${base}/health`)).ok) return { base, proc };
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill('SIGTERM');
  throw new Error('server did not start');
}

export async function load(
  url: string,
  opts: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    /** A body per request, in turn (e.g. a different key each time). */
    bodies?: string[];
    seconds?: number;
    connections?: number;
    /** Requests a second from all connections together: a fixed rate, for latency rather than throughput. */
    rate?: number;
  } = {},
) {
  let i = 0;
  const bodies = opts.bodies;
  const result = await autocannon({
    url,
    connections: opts.connections ?? 32,
    duration: opts.seconds ?? 3,
    method: (opts.method ?? 'GET') as 'GET',
    headers: opts.headers ?? {},
    ...(opts.body ? { body: opts.body } : {}),
    ...(opts.rate ? { overallRate: opts.rate } : {}),
    ...(bodies ? { requests: [{ setupRequest: (req) => ({ ...req, body: bodies[i++ % bodies.length] as string }) }] } : {}),
  });
  return { rps: result.requests.average, non2xx: result.non2xx, p50: result.latency.p50, p99: result.latency.p99 };
}
