import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { HttpAgent, ServerProcess } from '../packages/cli/test/server-process.js';
import { sleep } from './load.js';

export interface SoakOptions {
  minutes: number;
  /** How often a line of figures is printed (60 s: one per minute). */
  reportSeconds: number;
  /** Requests a second the load aims at, over all instances. */
  rate: number;
  databaseUrl: string;
  redisUrl: string;
  out?: (line: string) => void;
}

export interface SoakInterval {
  second: number;
  requests: number;
  errors: number;
  p50: number;
  p99: number;
  /** p99 per kind of request (whoami, verify, list keys, create+revoke), to tell which one moves. */
  p99ByKind: Record<string, number>;
  rssMb: number[];
}

export interface SoakResult {
  intervals: SoakInterval[];
  /** RSS growth of the larger instance from the end of the first interval to the end, as a fraction. */
  rssGrowth: number;
  /** The worst interval's p99 after the first, over the median interval's p99. */
  p99Spread: number;
  errors: number;
  errorSamples: string[];
}

function rssMb(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Math.round(Number(line?.replace(/\D+/g, '') ?? 0) / 1024);
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;

/**
 * Two keyward instances on one PostgreSQL database (created for the run, dropped after) and one Redis, under a
 * fixed mixed load: whoami with real keys, verify through a verifier (real keys and unknown ones from many client
 * addresses), key lists, and keys created and revoked. Prints RSS and p50/p99 per interval.
 */
export async function soak(o: SoakOptions): Promise<SoakResult> {
  const out = o.out ?? ((l: string) => console.log(l));
  const name = `kw_soak_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: o.databaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const db = new URL(o.databaseUrl);
  db.pathname = `/${name}`;
  const credential = `kwv_${randomBytes(24).toString('base64url')}`;
  const env = {
    KEYWARD_DATABASE_URL: db.toString(),
    KEYWARD_REDIS_URL: o.redisUrl,
    KEYWARD_SECRET: randomBytes(24).toString('hex'),
  };
  const servers: ServerProcess[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      const s = new ServerProcess(undefined, env);
      const cfg = join(s.dataDir, 'cfg.json');
      writeFileSync(
        cfg,
        JSON.stringify({
          log_level: 'warn',
          verifier_credentials: [{ name: 'soak', sha256: createHash('sha256').update(credential).digest('hex') }],
          plans: { enterprise: { requests_per_minute: 1_000_000, monthly_requests: null, max_active_keys: null } },
        }),
      );
      servers.push(await new ServerProcess(s.dataDir, env, ['--config', cfg]).start());
    }
    const bases = servers.map((s) => s.base);
    const owner = await HttpAgent.newAccount(bases[0] as string, `soak-${randomBytes(3).toString('hex')}@example.com`);
    const keys = await Promise.all(Array.from({ length: 20 }, (_, i) => owner.newKey({ name: `soak ${i}` })));
    const pick = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)] as T;
    const ip = () => `198.51.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}`;

    /** One request of the mix; its status must be one of `ok`. */
    const step = async (): Promise<{ status: number; ok: number[]; what: string }> => {
      const base = pick(bases);
      const r = Math.random();
      if (r < 0.6) {
        const res = await fetch(`${base}/v1/whoami`, { headers: { authorization: `Bearer ${pick(keys)}` } });
        await res.arrayBuffer();
        return { status: res.status, ok: [200], what: 'whoami' };
      }
      if (r < 0.85) {
        const unknown = r >= 0.8;
        const body = { key: unknown ? `kw_live_${randomBytes(30).toString('base64url')}` : pick(keys), ip: ip(), path: '/v1/things' };
        const res = await fetch(`${base}/v1/keys/verify`, {
          method: 'POST',
          headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        await res.arrayBuffer();
        return { status: res.status, ok: [200], what: unknown ? 'verify unknown' : 'verify' };
      }
      if (r < 0.97) {
        const res = await fetch(`${base}/api/developers/keys?limit=20`, { headers: { cookie: owner.cookie } });
        await res.arrayBuffer();
        return { status: res.status, ok: [200], what: 'list keys' };
      }
      const agent = Object.assign(new HttpAgent(base), { cookie: owner.cookie });
      const made = await agent.req('POST', '/api/developers/keys', { name: 'churn' });
      if (made.status !== 201) return { status: made.status, ok: [201], what: 'create+revoke' };
      const gone = await agent.req('DELETE', `/api/developers/keys/${made.body.key.id}`);
      return { status: gone.status, ok: [200], what: 'create+revoke' };
    };

    const concurrency = 32;
    const spacing = (concurrency * 1000) / o.rate;
    const end = Date.now() + o.minutes * 60_000;
    const kinds = ['whoami', 'verify', 'verify unknown', 'list keys', 'create+revoke'];
    let window: number[] = [];
    let byKind = new Map<string, number[]>();
    let windowErrors = 0;
    let errors = 0;
    const errorSamples: string[] = [];
    const worker = async () => {
      let next = Date.now() + Math.random() * spacing;
      while (Date.now() < end) {
        const wait = next - Date.now();
        if (wait > 0) await sleep(wait);
        next += spacing;
        const t = performance.now();
        let failed = '';
        let what = 'network';
        try {
          const r = await step();
          what = r.what;
          if (!r.ok.includes(r.status)) failed = `${r.what} answered ${r.status}`;
        } catch (error) {
          failed = `network: ${(error as Error).message}`;
        }
        const took = performance.now() - t;
        window.push(took);
        const samples = byKind.get(what) ?? [];
        samples.push(took);
        byKind.set(what, samples);
        if (failed) {
          windowErrors++;
          errors++;
          if (errorSamples.length < 10) errorSamples.push(failed);
        }
      }
    };
    const started = Date.now();
    out(`soak: 2 instances on PostgreSQL + Redis, ${o.rate} requests/s aimed, ${o.minutes} min, a line every ${o.reportSeconds} s`);
    out(`  second  requests  errors   p50 ms   p99 ms   RSS MB (A, B)   p99 ms by kind (${kinds.join(', ')})`);
    const intervals: SoakInterval[] = [];
    const reporter = setInterval(() => {
      const sorted = window.sort((a, b) => a - b);
      const line: SoakInterval = {
        second: Math.round((Date.now() - started) / 1000),
        requests: sorted.length,
        errors: windowErrors,
        p50: quantile(sorted, 0.5),
        p99: quantile(sorted, 0.99),
        p99ByKind: Object.fromEntries(
          [...byKind].map(([kind, xs]) => [
            kind,
            quantile(
              xs.sort((a, b) => a - b),
              0.99,
            ),
          ]),
        ),
        rssMb: servers.map((s) => rssMb(s.proc.pid)),
      };
      window = [];
      byKind = new Map();
      windowErrors = 0;
      intervals.push(line);
      out(
        `  ${String(line.second).padStart(6)}  ${String(line.requests).padStart(8)}  ${String(line.errors).padStart(6)}  ${line.p50.toFixed(1).padStart(7)}  ${line.p99.toFixed(1).padStart(7)}   ${line.rssMb.join(', ').padEnd(14)}${kinds.map((k) => (line.p99ByKind[k] ?? 0).toFixed(0).padStart(6)).join('')}`,
      );
    }, o.reportSeconds * 1000);
    await Promise.all(Array.from({ length: concurrency }, worker));
    clearInterval(reporter);

    const first = intervals[0];
    const last = intervals.at(-1);
    const rssGrowth = first && last ? Math.max(...last.rssMb) / Math.max(...first.rssMb) - 1 : 0;
    const later = intervals.slice(1).map((i) => i.p99);
    const medianP99 = quantile(
      [...later].sort((a, b) => a - b),
      0.5,
    );
    const p99Spread = later.length > 0 && medianP99 > 0 ? Math.max(...later) / medianP99 : 1;
    out(
      `soak: ${errors} errors; RSS growth after the first interval ${(100 * rssGrowth).toFixed(1)}% (target < 10%); worst p99 after the first interval ${p99Spread.toFixed(2)}× the median p99 (target < 2×)`,
    );
    for (const e of errorSamples) out(`  error: ${e}`);
    return { intervals, rssGrowth, p99Spread, errors, errorSamples };
  } finally {
    for (const s of servers) await s.stop();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}
