import { evaluateBudget, evaluateGcra, evaluateQuota, KeywardError } from '@keyward/core';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { GCRA_LUA } from '../redis/gcra.js';
import { RedisHealth } from '../redis/health.js';
import { type GiveBack, type LimitCheck, type Limiter, type LimitResult, type MeterResult, meterAllows, spendsCredits } from './limiter.js';

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
 * KEYS: per meter, its rate, quota and budget keys, then the budget epoch. ARGV: now, cost, count (the requests
 * taken against rates and quotas), hold (ms they stay counted in rates), then per meter: rate limit, period, quota limit, quota TTL, quota seed, budget
 * limit, budget seed (0 = no such limit; a seed of -1 = not read yet).
 */
const SCRIPT = `${GCRA_LUA}
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local count = tonumber(ARGV[3])
local hold = tonumber(ARGV[4])
local n = (#ARGV - 4) / 7
local epoch = redis.call('GET', KEYS[n * 3 + 1]) or '0'
local m = {}
local missing = {}
for i = 1, n do
  local a = 4 + (i - 1) * 7
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
    local newtat, fits = gcra_step(x.tat, now, x.rlimit, x.period, count, hold)
    x.newtat = newtat
    if not fits then allowed = false end
  end
  if x.qlimit > 0 and x.used + count > x.qlimit then allowed = false end
  if x.blimit > 0 and x.spent + cost > x.blimit then allowed = false end
end
local out = { 'ok' }
for i = 1, n do
  local x = m[i]
  if allowed then
    if x.rlimit > 0 then gcra_keep(x.rkey, x.newtat, now) end
    if x.qlimit > 0 then redis.call('SET', x.qkey, x.used + count, 'PX', x.qttl) end
    if x.blimit > 0 then redis.call('SET', x.bkey, (x.spent + cost) .. '|' .. epoch, 'PX', 2592000000) end
  elseif x.reconciled then redis.call('SET', x.bkey, x.spent .. '|' .. epoch, 'PX', 2592000000)
  end
  table.insert(out, tostring(x.tat))
  table.insert(out, tostring(x.used))
  table.insert(out, tostring(x.spent))
end
return out
`;

/**
 * What a lease did not use, back to every meter it names, once per lease id: a second give-back of the same id
 * finds its mark (kept ten minutes) and changes nothing. A rate's time moves back `count` intervals and is dropped
 * when that is no later than now; a quota that exists goes down by `count` and a budget that exists by `cost`,
 * neither below 0, the budget keeping its epoch (a counter of an older epoch is still reconciled at its next check).
 *
 * KEYS: the lease's mark, then per meter its rate, quota (of the lease's month) and budget keys. ARGV: now, count,
 * cost, rate count (what goes back to rates), then per meter: rate limit, period (0 = no rate), quota, budget (1 = give back to it, 0 = not).
 */
const GIVE_BACK = `${GCRA_LUA}
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', 600000) then return 0 end
local now = tonumber(ARGV[1])
local count = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local rcount = tonumber(ARGV[4])
for i = 1, (#ARGV - 4) / 4 do
  local a = 4 + (i - 1) * 4
  local rlimit, period = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local rkey, qkey, bkey = KEYS[(i - 1) * 3 + 2], KEYS[(i - 1) * 3 + 3], KEYS[(i - 1) * 3 + 4]
  if rlimit > 0 and rcount > 0 then gcra_give_back(rkey, now, rlimit, period, rcount) end
  if ARGV[a + 3] == '1' then
    local v = redis.call('GET', qkey)
    if v then redis.call('DECRBY', qkey, math.min(count, tonumber(v))) end
  end
  if ARGV[a + 4] == '1' then
    local v = redis.call('GET', bkey)
    if v then
      local bar = string.find(v, '|', 1, true)
      local spent, at = tonumber(v), ''
      if bar then spent = tonumber(string.sub(v, 1, bar - 1)); at = string.sub(v, bar) end
      redis.call('SET', bkey, math.max(0, spent - cost) .. at, 'PX', 2592000000)
    end
  end
end
return 1
`;

interface Scripted extends Redis {
  keywardLimits(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<string[]>;
  keywardGiveBack(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<number>;
}

export interface RedisLimiterOptions {
  /** What to do when Redis cannot be asked: `open` lets requests through uncounted, `closed` refuses them. */
  onRedisError: 'open' | 'closed';
  keyPrefix?: string;
}

export class RedisLimiter implements Limiter {
  /** The counters in Redis, shared by every instance using the same prefix. */
  readonly id: string;
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
    redis.defineCommand('keywardGiveBack', { lua: GIVE_BACK });
    this.#redis = redis as Scripted;
    this.#prefix = options.keyPrefix ?? 'keyward:';
    this.id = `redis:${this.#prefix}`;
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
    const { now, cost, meters, count = 1, holdMs = 0 } = input;
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
      reply = await this.#redis.keywardLimits(keys.length, ...keys, now, cost, count, holdMs, ...args());
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
        reply = await this.#redis.keywardLimits(keys.length, ...keys, now, cost, count, holdMs, ...args());
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
        rate: m.rate ? evaluateGcra({ tat, now, limit: m.rate.limit, periodMs: m.rate.periodMs, count, holdMs }) : null,
        quota: m.quota ? evaluateQuota(used, m.quota.limit, m.quota.resetAt, now, count) : null,
        budget: m.budget ? evaluateBudget(spent, m.budget.limit, cost) : null,
      };
    });
    return { meters: results, allowed: results.every(meterAllows) };
  }

  /**
   * Resolves false when Redis cannot be asked, as for a lease already given back: what a lost give-back keeps
   * counted only makes limits stricter until they refill, never looser.
   */
  async giveBack({ id, now, count, rateCount = count, cost, meters }: GiveBack): Promise<boolean> {
    const keys = [`${this.#prefix}lease:${id}`];
    const args: number[] = [];
    for (const m of meters) {
      keys.push(`${this.#prefix}rate:${m.id}`, `${this.#prefix}quota:${m.id}:${m.quotaMonth ?? ''}`, `${this.#prefix}budget:${m.id}`);
      args.push(m.rate?.limit ?? 0, m.rate?.periodMs ?? 0, m.quotaMonth === null ? 0 : 1, m.budget ? 1 : 0);
    }
    try {
      const done = await this.#redis.keywardGiveBack(keys.length, ...keys, now, count, cost, rateCount, ...args);
      this.#health.answered();
      return done === 1;
    } catch (error) {
      this.#health.failed(error);
      return false;
    }
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
