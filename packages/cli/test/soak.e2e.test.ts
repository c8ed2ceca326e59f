import { describe, expect, it } from 'vitest';
import { soak } from '../../../test-support/soak.js';
import { postgresUrl } from '../../server/test/postgres.js';

const redisUrl = process.env.KEYWARD_TEST_REDIS_URL;
if (!postgresUrl || !redisUrl)
  console.warn('[skip] soak, short: set KEYWARD_TEST_DATABASE_URL and KEYWARD_TEST_REDIS_URL (as .ci/run does)');

/**
 * The short version of `npm run soak` (which runs 10 minutes by default): the same two instances and mixed load
 * for 30 s, its figures printed. Only errors fail it here; memory growth and p99 are judged on the long run,
 * whose figures are in docs/operations.md.
 */
describe.skipIf(!postgresUrl || !redisUrl)('soak, short', () => {
  it('two instances on PostgreSQL + Redis answer a mixed load for 30 s without one error', async () => {
    const result = await soak({
      minutes: 0.5,
      reportSeconds: 10,
      rate: 200,
      databaseUrl: postgresUrl ?? '',
      redisUrl: redisUrl ?? '',
      out: (line) => console.log(`[soak] ${line}`),
    });
    expect(result.errorSamples).toEqual([]);
    expect(result.intervals.length).toBeGreaterThanOrEqual(2);
    expect(result.intervals.every((i) => i.requests > 0)).toBe(true);
  }, 90_000);
});
