/**
 * A Fastify route behind keyward's plugin, with the in-process verifier and with the remote verifier (its local
 * cache on; and with a limited key, answered from leased allowances), against the same route unprotected, all served
 * by one child process and loaded in turn from this one: throughput and p99 latency. Run: npm run bench:middleware
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { load, median, ROOT, row } from './lib.js';

const child = spawn(process.execPath, ['--import', 'tsx', 'bench/fastify-apis.ts'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
const line = await new Promise<string>((ok) => createInterface({ input: child.stdout }).once('line', ok));
const { bare, guarded, remote, key, limitedKey } = JSON.parse(line) as {
  bare: string;
  guarded: string;
  remote: string;
  key: string;
  limitedKey: string;
};
const auth = { authorization: `Bearer ${key}` };
const limitedAuth = { authorization: `Bearer ${limitedKey}` };
try {
  await load(bare, { seconds: 1 });
  await load(guarded, { seconds: 1, headers: auth });
  await load(remote, { seconds: 1, headers: auth });
  await load(remote, { seconds: 1, headers: limitedAuth });
  const runs = { bare: [] as number[], guarded: [] as number[], remote: [] as number[], leased: [] as number[] };
  const p99 = { bare: [] as number[], guarded: [] as number[], remote: [] as number[], leased: [] as number[] };
  let errors = 0;
  for (let round = 0; round < 3; round++) {
    for (const [name, url, headers] of [
      ['bare', bare, {}],
      ['guarded', guarded, auth],
      ['remote', remote, auth],
      ['leased', remote, limitedAuth],
    ] as const) {
      const r = await load(url, { headers });
      runs[name].push(r.rps);
      p99[name].push(r.p99);
      errors += r.non2xx;
    }
  }
  const p = (name: keyof typeof p99) => `p99 ${median(p99[name]).toFixed(1)} ms`;
  console.log('Fastify GET /list, 32 connections (medians of 3 rounds of 3 s runs, in turn)');
  console.log(`${row('unprotected (baseline)', median(runs.bare), median(runs.bare))}  ${p('bare')}`);
  console.log(`${row('behind keyward (in-process verify)', median(runs.guarded), median(runs.bare), '>= 85%')}  ${p('guarded')}`);
  console.log(
    `${row('behind keyward (remote verify, local cache)', median(runs.remote), median(runs.bare), '>= 70%')}  ${p('remote')} (target <= 1.5x baseline)`,
  );
  console.log(
    `${row('behind keyward (remote verify, limited key, leases)', median(runs.leased), median(runs.bare), '>= 70%')}  ${p('leased')}`,
  );
  if (errors) console.log(`!! ${errors} non-2xx answers from the protected routes`);
} finally {
  child.kill('SIGTERM');
}
