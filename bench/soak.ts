/**
 * Two instances on PostgreSQL + Redis under a fixed mixed load; RSS and p50/p99 per minute.
 * Run: npm run soak -- --minutes 10 [--rate 400] [--report-seconds 60]
 * Uses KEYWARD_SOAK_DATABASE_URL / KEYWARD_SOAK_REDIS_URL, else the local servers (postgres://postgres@127.0.0.1:5432/postgres,
 * redis://127.0.0.1:6379). Exits 1 when a request failed, RSS grew 10 % or more after the first minute, or p99 was not
 * steady (an interval after the first at twice the median interval's p99 or more).
 */
import { parseArgs } from 'node:util';
import { soak } from '../test-support/soak.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    rate: { type: 'string', default: '400' },
    'report-seconds': { type: 'string', default: '60' },
  },
});
const result = await soak({
  minutes: Number(values.minutes),
  rate: Number(values.rate),
  reportSeconds: Number(values['report-seconds']),
  databaseUrl: process.env.KEYWARD_SOAK_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl: process.env.KEYWARD_SOAK_REDIS_URL ?? 'redis://127.0.0.1:6379',
});
process.exit(result.errors > 0 || result.rssGrowth >= 0.1 || result.p99Spread >= 2 ? 1 : 0);
