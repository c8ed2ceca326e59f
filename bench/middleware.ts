/**
 * A Fastify route behind keyward's plugin (in-process verification) against the same route unprotected, both served
 * by one child process and loaded alternately from this one. Run: npm run bench:middleware
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { load, median, ROOT, row } from './lib.js';

const child = spawn(process.execPath, ['--import', 'tsx', 'bench/fastify-apis.ts'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
const line = await new Promise<string>((ok) => createInterface({ input: child.stdout }).once('line', ok));
const { bare, guarded, key } = JSON.parse(line) as { bare: string; guarded: string; key: string };
try {
  await load(bare, { seconds: 1 });
  await load(guarded, { seconds: 1, headers: { authorization: `Bearer ${key}` } });
  const runs = { bare: [] as number[], guarded: [] as number[] };
  let errors = 0;
  for (let round = 0; round < 3; round++) {
    runs.bare.push((await load(bare)).rps);
    const g = await load(guarded, { headers: { authorization: `Bearer ${key}` } });
    runs.guarded.push(g.rps);
    errors += g.non2xx;
  }
  console.log('Fastify GET /list, 32 connections (medians of 3 alternating 3 s runs)');
  console.log(row('unprotected (baseline)', median(runs.bare), median(runs.bare)));
  console.log(row('behind keyward (in-process verify)', median(runs.guarded), median(runs.bare), '>= 85%'));
  if (errors) console.log(`!! ${errors} non-2xx answers from the protected route`);
} finally {
  child.kill('SIGTERM');
}
