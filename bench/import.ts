/**
 * Import speed and memory for 1,000,000 records (`keyward admin import --from csv`), beside its baseline measured
 * in the same run: reading and parsing the same file alone.
 * Run: npm run bench:import   (RECORDS=… to change the count; `-- --postgres` imports into a fresh PostgreSQL
 * database on KEYWARD_TEST_DATABASE_URL instead of SQLite)
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../packages/server/src/audit/audit-log.js';
import { defineConfig } from '../packages/server/src/config/load-config.js';
import { systemClock } from '../packages/server/src/ids.js';
import { Importer } from '../packages/server/src/import/importer.js';
import { readSource } from '../packages/server/src/import/sources.js';
import { sqliteStore } from '../packages/server/src/storage/sqlite-store.js';
import { freshPostgresStore, postgresUrl } from '../packages/server/test/postgres.js';

const RECORDS = Number(process.env.RECORDS ?? 1_000_000);
const dir = mkdtempSync(join(tmpdir(), 'kw-bench-import-'));
const file = join(dir, 'keys.csv');

// The input: RECORDS keys of 1,000 owners, SHA-256 hex hashes, a scope and a budget each.
const out = createWriteStream(file);
out.write('email,name,prefix,hash,hash_format,scope,expires_at,budget,requests_per_minute,metadata\n');
for (let i = 0; i < RECORDS; i++) {
  const hash = createHash('sha256').update(randomBytes(24)).digest('hex');
  if (!out.write(`owner${i % 1000}@bench.example,key ${i},acct_,${hash},sha256-hex,${i % 3 === 0 ? 'read' : 'write'},,1000,,\n`))
    await once(out, 'drain');
}
out.end();
await once(out, 'finish');
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MB`;
console.log(`input: ${RECORDS.toLocaleString('en-US')} records, ${mb(statSync(file).size)}`);

let peak = process.memoryUsage().rss;
const sample = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 100);

let t = performance.now();
let parsed = 0;
for await (const _ of readSource('csv', file)) parsed++;
const parseSeconds = (performance.now() - t) / 1000;

const config = defineConfig(
  {},
  { host: '127.0.0.1', port: 0, dataDir: dir, databaseUrl: null, redisUrl: null, secret: 'bench-secret-bench-secret' },
);
const onPostgres = process.argv.includes('--postgres');
if (onPostgres && !postgresUrl)
  throw new Error('--postgres needs KEYWARD_TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres)');
const store = onPostgres ? await freshPostgresStore() : sqliteStore(join(dir, 'keyward.db'));
await store.migrate();
const before = process.memoryUsage().rss;
t = performance.now();
const report = await new Importer({ store, config, clock: systemClock, audit: new AuditLog(store, systemClock) }).run({
  source: 'csv',
  file,
});
const importSeconds = (performance.now() - t) / 1000;
clearInterval(sample);
await store.close();

const rate = (n: number, s: number) => `${Math.round(n / s).toLocaleString('en-US')}/s`;
console.log(`read + parse only (baseline)   ${parseSeconds.toFixed(1)} s   ${rate(parsed, parseSeconds)}`);
console.log(
  `import into ${onPostgres ? 'PostgreSQL' : 'SQLite    '}          ${importSeconds.toFixed(1)} s   ${rate(report.created, importSeconds)}   ${Math.round((parseSeconds / importSeconds) * 100)}% of baseline   (target: 1,000,000 in under 120 s)`,
);
console.log(
  `created ${report.created.toLocaleString('en-US')}, owners ${report.createdOwners.length}, peak RSS ${mb(peak)} (before the import ${mb(before)})`,
);
if (report.created !== RECORDS) console.log(`!! ${RECORDS - report.created} records not created`);
