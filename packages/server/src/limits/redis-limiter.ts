import { evaluateGcra, evaluateQuota, KeywardError } from '@keyward/core';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { LimitCheck, Limiter, LimitResult } from './limiter.js';

/**
 * Both limits in one atomic step, so that any number of instances sharing Redis enforce one limit. Returns the
 * state before this request (GCRA time, month count); the decision itself is made in TypeScript by the same pure
 * functions the in-process limiter uses. A month counter that does not exist yet asks for its seed (-1): what
 * storage already counted, so a Redis restart does not hand out a fresh quota.
 */
const SCRIPT = `
local now = tonumber(ARGV[1])
local rlimit = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local qlimit = tonumber(ARGV[4])
local qttl = tonumber(ARGV[5])
local seed = tonumber(ARGV[6])
local used = 0
if qlimit > 0 then
  local v = redis.call('GET', KEYS[2])
  if not v then
    if seed < 0 then return {'seed'} end
    redis.call('SET', KEYS[2], seed, 'PX', qttl, 'NX')
    used = tonumber(redis.call('GET', KEYS[2]))
  else
    used = tonumber(v)
  end
end
local tat = 0
local newtat = 0
local rallowed = true
if rlimit > 0 then
  tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  newtat = math.max(tat, now) + period / rlimit
  rallowed = newtat - period <= now
end
if rallowed and (qlimit == 0 or used < qlimit) then
  if rlimit > 0 then redis.call('SET', KEYS[1], tostring(newtat), 'PX', math.ceil(newtat - now) + 1000) end
  if qlimit > 0 then redis.call('INCR', KEYS[2]) end
end
return {'ok', tostring(tat), tostring(used)}
`;

interface Scripted extends Redis {
  keywardLimit(rateKey: string, quotaKey: string, ...args: (string | number)[]): Promise<string[]>;
}

export interface RedisLimiterOptions {
  /** What to do when Redis cannot be asked: `open` lets requests through uncounted, `closed` refuses them. */
  onRedisError: 'open' | 'closed';
  keyPrefix?: string;
}

export class RedisLimiter implements Limiter {
  readonly #redis: Scripted;
  readonly #prefix: string;
  #down = false;

  constructor(
    redis: Redis,
    private readonly logger: Logger,
    private readonly options: RedisLimiterOptions,
  ) {
    redis.defineCommand('keywardLimit', { numberOfKeys: 2, lua: SCRIPT });
    this.#redis = redis as Scripted;
    this.#prefix = options.keyPrefix ?? 'keyward:';
  }

  async check(input: LimitCheck): Promise<LimitResult> {
    const { keyId, now, rate, quota } = input;
    const rateKey = `${this.#prefix}rate:${keyId}`;
    const quotaKey = `${this.#prefix}quota:${keyId}:${quota?.month ?? ''}`;
    const args = (seed: number) => [
      now,
      rate?.limit ?? 0,
      rate?.periodMs ?? 0,
      quota?.limit ?? 0,
      quota ? quota.resetAt - now + 86_400_000 : 0,
      seed,
    ];
    let reply: string[];
    try {
      reply = await this.#redis.keywardLimit(rateKey, quotaKey, ...args(-1));
      if (reply[0] === 'seed' && quota) reply = await this.#redis.keywardLimit(rateKey, quotaKey, ...args(await quota.seed()));
      this.#up();
    } catch (error) {
      return this.#fail(error);
    }
    const tat = Number(reply[1]);
    const used = Number(reply[2]);
    return {
      rate: rate ? evaluateGcra({ tat, now, limit: rate.limit, periodMs: rate.periodMs }) : null,
      quota: quota ? evaluateQuota(used, quota.limit, quota.resetAt, now) : null,
    };
  }

  #fail(error: unknown): LimitResult {
    if (!this.#down) {
      this.#down = true;
      this.logger.error(
        { err: { message: (error as Error).message } },
        `Redis unreachable: rate limits and quotas are ${this.options.onRedisError === 'open' ? 'NOT enforced (fail open)' : 'refusing requests (fail closed)'} until it is back`,
      );
    }
    if (this.options.onRedisError === 'closed') {
      throw new KeywardError('service_unavailable', 'Rate limits cannot be checked right now; retry shortly.', { 'retry-after': '1' });
    }
    return { rate: null, quota: null };
  }

  #up(): void {
    if (this.#down) {
      this.#down = false;
      this.logger.warn('Redis reachable again: rate limits and quotas are enforced');
    }
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }
}
