import { evaluateBudget, evaluateGcra, evaluateQuota, KeywardError } from '@keyward/core';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { GCRA_LUA } from '../redis/gcra.js';
import { RedisHealth } from '../redis/health.js';
import { type LimitCheck, type Limiter, type LimitResult, type MeterResult, meterAllows, spendsCredits } from './limiter.js';

/**
 * Every limit of every meter a request counts towards, in one atomic step, so that any number of instances
 * sharing Redis enforce one limit: the request is counted in all of them or in none. Returns the state before this
 * request (per meter: GCRA time, month count, credits spent); the decision itself is made in TypeScript by the same
 * pure functions the in-process limiter uses, and the rate's step in Lua is the throttles' (`GCRA_LUA`). A month or
 * budget counter that does not exist yet asks for its seed (what storage already counted), so a Redis restart does
 * not hand out a fresh quota or budget.
 *
 * Budgets are also reconciled after every outage: a budget counter is stored as `spent|epoch`, and an instance
 * that lost Redis raises the epoch (`budget-epoch`) before it counts again. A counter of an older epoch asks for
 * its seed too and becomes the larger of the two, so Redis never holds less than storage recorded as spent (a
 * failover to a replica that lagged, a restore from an older snapshot), on every instance.
 *
 * KEYS: per meter, its rate, quota and budget keys, then the budget epoch. ARGV: now, cost, then per meter: rate
 * limit, period, quota limit, quota TTL, quota seed, budget limit, budget seed (0 = no such limit; a seed of -1 =
 * not read yet).
 */
const SCRIPT = `${GCRA_LUA}
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local n = (#ARGV - 2) / 7
local epoch = redis.call('GET', KEYS[n * 3 + 1]) or '0'
local m = {}
local missing = {}
for i = 1, n do
  local a = 2 + (i - 1) * 7
  local x = { rlimit = tonumber(ARGV[a + 1]), period = tonumber(ARGV[a + 2]), qlimit = tonumber(ARGV[a + 3]),
    qttl = tonumber(ARGV[a + 4]), qseed = tonumber(ARGV[a + 5]), blimit = tonumber(ARGV[a + 6]), bseed = tonumber(ARGV[a + 7]),
    rkey = KEYS[(i - 1) * 3 + 1], qkey = KEYS[(i - 1) * 3 + 2], bkey = KEYS[(i - 1) * 3 + 3], tat = 0, used = 0, spent = 0 }
  if x.qlimit > 0 then
    local v = redis.call('GET', x.qkey)
    if v then x.used = tonumber(v) elseif x.qseed < 0 then table.insert(missing, 'q' .. i) else x.used = x.qseed end
  end
  if x.blimit > 0 then
    local v = redis.call('GET', x.bkey)
    local spent, at = nil, nil
    if v then
      local bar = string.find(v, '|', 1, true)
      if bar then spent = tonumber(string.sub(v, 1, bar - 1)); at = string.sub(v, bar + 1) else spent = tonumber(v) end
    end
    if spent and at == epoch then x.spent = spent
    elseif x.bseed < 0 then table.insert(missing, 'b' .. i)
    else x.spent = math.max(spent or 0, x.bseed); x.reconciled = true end
  end
  if x.rlimit > 0 then x.tat = gcra_read(x.rkey) end
  m[i] = x
end
if #missing > 0 then return { 'seed', unpack(missing) } end
local allowed = true
for i = 1, n do
  local x = m[i]
  if x.rlimit > 0 then
    local newtat, fits = gcra_step(x.tat, now, x.rlimit, x.period)
    x.newtat = newtat
    if not fits then allowed = false end
  end
  if x.qlimit > 0 and x.used >= x.qlimit then allowed = false end
  if x.blimit > 0 and x.spent + cost > x.blimit then allowed = false end
end
local out = { 'ok' }
for i = 1, n do
  local x = m[i]
  if allowed then
    if x.rlimit > 0 then gcra_keep(x.rkey, x.newtat, now) end
    if x.qlimit > 0 then redis.call('SET', x.qkey, x.used + 1, 'PX', x.qttl) end
    if x.blimit > 0 then redis.call('SET', x.bkey, (x.spent + cost) .. '|' .. epoch, 'PX', 2592000000) end
  elseif x.reconciled then redis.call('SET', x.bkey, x.spent .. '|' .. epoch, 'PX', 2592000000)
  end
  table.insert(out, tostring(x.tat))
  table.insert(out, tostring(x.used))
  table.insert(out, tostring(x.spent))
end
return out
`;

interface Scripted extends Redis {
  keywardLimits(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<string[]>;
}

export interface RedisLimiterOptions {
  /** What to do when Redis cannot be asked: `open` lets requests through uncounted, `closed` refuses them. */
  onRedisError: 'open' | 'closed';
  keyPrefix?: string;
}

export class RedisLimiter implements Limiter {
  readonly #redis: Scripted;
  readonly #prefix: string;
  readonly #health: RedisHealth;
  /** Set when the connection was lost: the budget epoch is raised before the next count. */
  #stale = false;
  #raising: Promise<void> | null = null;

  constructor(
    redis: Redis,
    logger: Logger,
    private readonly options: RedisLimiterOptions,
  ) {
    redis.defineCommand('keywardLimits', { lua: SCRIPT });
    this.#redis = redis as Scripted;
    this.#prefix = options.keyPrefix ?? 'keyward:';
    this.#health = new RedisHealth(logger, {
      down: `Redis unreachable: rate limits and quotas are ${options.onRedisError === 'open' ? 'NOT enforced (fail open)' : 'refusing requests (fail closed)'}, requests that spend credits are refused (budgets fail closed), until it is back`,
      back: 'Redis reachable again: rate limits and quotas are enforced',
    });
    // Whatever Redis holds when it is back may be behind storage (writes lost, a replica promoted).
    redis.on('close', () => {
      this.#stale = true;
    });
  }

  async check(input: LimitCheck): Promise<LimitResult> {
    const { now, cost, meters } = input;
    const keys = meters.flatMap((m) => [
      `${this.#prefix}rate:${m.id}`,
      `${this.#prefix}quota:${m.id}:${m.quota?.month ?? ''}`,
      `${this.#prefix}budget:${m.id}`,
    ]);
    keys.push(`${this.#prefix}budget-epoch`);
    const seeds = meters.map(() => ({ quota: -1, budget: -1 }));
    const args = () =>
      meters.flatMap((m, i) => [
        m.rate?.limit ?? 0,
        m.rate?.periodMs ?? 0,
        m.quota?.limit ?? 0,
        m.quota ? m.quota.resetAt - now + 86_400_000 : 0,
        seeds[i]?.quota ?? -1,
        m.budget?.limit ?? 0,
        seeds[i]?.budget ?? -1,
      ]);
    let reply: string[];
    try {
      if (this.#stale) await this.#raiseEpoch();
      reply = await this.#redis.keywardLimits(keys.length, ...keys, now, cost, ...args());
      if (reply[0] === 'seed') {
        // Read from storage what the missing counters held, then ask again: another instance may have seeded them
        // meanwhile, in which case Redis keeps its value.
        await Promise.all(
          reply.slice(1).map(async (which) => {
            const i = Number(which.slice(1)) - 1;
            const meter = meters[i];
            const seed = seeds[i];
            if (!meter || !seed) return;
            if (which[0] === 'q' && meter.quota) seed.quota = await meter.quota.seed();
            if (which[0] === 'b' && meter.budget) seed.budget = await meter.budget.seed();
          }),
        );
        reply = await this.#redis.keywardLimits(keys.length, ...keys, now, cost, ...args());
      }
      this.#health.answered();
    } catch (error) {
      return this.#fail(error, input);
    }
    if (reply[0] !== 'ok') return this.#fail(new Error(`unexpected limiter reply ${reply[0]}`), input);
    const results = meters.map((m, i): MeterResult => {
      const tat = Number(reply[1 + i * 3]);
      const used = Number(reply[2 + i * 3]);
      const spent = Number(reply[3 + i * 3]);
      return {
        rate: m.rate ? evaluateGcra({ tat, now, limit: m.rate.limit, periodMs: m.rate.periodMs }) : null,
        quota: m.quota ? evaluateQuota(used, m.quota.limit, m.quota.resetAt, now) : null,
        budget: m.budget ? evaluateBudget(spent, m.budget.limit, cost) : null,
      };
    });
    return { meters: results, allowed: results.every(meterAllows) };
  }

  #fail(error: unknown, input: LimitCheck): LimitResult {
    this.#health.failed(error);
    if (spendsCredits(input)) {
      throw new KeywardError('service_unavailable', 'Credit budgets cannot be checked right now; retry shortly.', { 'retry-after': '1' });
    }
    if (this.options.onRedisError === 'closed') {
      throw new KeywardError('service_unavailable', 'Rate limits cannot be checked right now; retry shortly.', { 'retry-after': '1' });
    }
    return { meters: input.meters.map(() => ({ rate: null, quota: null, budget: null })), allowed: true };
  }

  /** After an outage, before counting again: every budget counter is read against storage at its next use. */
  #raiseEpoch(): Promise<void> {
    this.#raising ??= this.#redis
      .incr(`${this.#prefix}budget-epoch`)
      .then(() => {
        this.#stale = false;
      })
      .finally(() => {
        this.#raising = null;
      });
    return this.#raising;
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }
}
