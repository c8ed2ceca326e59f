import { join } from 'node:path';
import { KeyFormat } from '@keyward/core';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { AuditLog } from './audit/audit-log.js';
import { AccountService } from './auth/account-service.js';
import { type InvalidationBus, localBus } from './cache/invalidation-bus.js';
import { KeyCache } from './cache/key-cache.js';
import { fanOut, PostgresBus } from './cache/postgres-bus.js';
import { RedisBus } from './cache/redis-bus.js';
import { type KeywardConfig, planForKey } from './config/config.js';
import { OneTimeForms } from './forms/one-time-forms.js';
import { buildApp } from './http/app.js';
import type { AppContext } from './http/context.js';
import { Metrics } from './http/metrics.js';
import { RequestAuth } from './http/request-auth.js';
import { type Clock, systemClock } from './ids.js';
import { KeyService } from './keys/key-service.js';
import { Verifier } from './keys/verifier.js';
import type { Limiter } from './limits/limiter.js';
import { MemoryLimiter } from './limits/memory-limiter.js';
import { connectRedis } from './limits/redis-client.js';
import { RedisLimiter } from './limits/redis-limiter.js';
import { createLogger } from './logger.js';
import { MemberService } from './org/member-service.js';
import { GrantService } from './signin/grant-service.js';
import { postgresStore } from './storage/postgres-store.js';
import { sqliteStore } from './storage/sqlite-store.js';
import type { Store } from './storage/store.js';
import { MemoryCounters, RedisCounters } from './throttle/counters.js';
import { Throttles } from './throttle/throttles.js';
import { UsageRecorder } from './usage/usage-recorder.js';
import { UsageService } from './usage/usage-service.js';

export interface KeywardOverrides {
  clock?: Clock;
  logger?: Logger;
  store?: Store;
  limiter?: Limiter;
  bus?: InvalidationBus;
}

export interface Keyward {
  app: FastifyInstance;
  ctx: AppContext;
  /** The storage and the usage recorder behind the services: for operator commands and tests, never for routes. */
  store: Store;
  recorder: UsageRecorder;
  /** Stops taking requests, writes queued usage, closes storage and connections. */
  close(): Promise<void>;
}

/** The configured storage: PostgreSQL when `KEYWARD_DATABASE_URL` is set, else SQLite in the data folder. */
export function openStore(config: Pick<KeywardConfig, 'databaseUrl' | 'dataDir'>): Store {
  return config.databaseUrl ? postgresStore(config.databaseUrl) : sqliteStore(join(config.dataDir, 'keyward.db'));
}

/** The one composition root: every service is built here, from one parsed config. */
export async function createKeyward(config: KeywardConfig, overrides: KeywardOverrides = {}): Promise<Keyward> {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const clock = overrides.clock ?? systemClock;
  const store = overrides.store ?? openStore(config);
  await store.migrate();
  const redis = config.redisUrl && (!overrides.limiter || !overrides.bus) ? await connectRedis(config.redisUrl) : null;
  const limiter =
    overrides.limiter ??
    (redis ? new RedisLimiter(redis, logger, { onRedisError: config.limiter.onRedisError }) : new MemoryLimiter(clock));
  const format = new KeyFormat(config.environments);
  const cache = new KeyCache(config.cache, (key) => planForKey(config, key));
  // Invalidations go out over Redis pub/sub and, on PostgreSQL, over LISTEN/NOTIFY too: a revocation reaches every
  // instance while either one works.
  const buses = [
    ...(redis ? [new RedisBus(redis, logger)] : []),
    ...(config.databaseUrl ? [new PostgresBus(config.databaseUrl, logger, () => cache.clear())] : []),
  ];
  const bus = overrides.bus ?? (buses.length === 0 ? localBus : buses.length === 1 ? (buses[0] as InvalidationBus) : fanOut(buses));
  await bus.subscribe((event) => cache.apply(event));
  const metrics = new Metrics();
  const recorder = new UsageRecorder(
    store,
    logger,
    { ...config.usage, onDropped: (kind, rows) => metrics.usageRowsDropped(kind, rows) },
    clock,
  );
  metrics.watchPending(() => recorder.pendingRows);
  const audit = new AuditLog(store, clock);
  // Abuse throttles count in Redis when there is one, so that every instance shares them.
  const throttles = new Throttles(redis ? new RedisCounters(redis, logger) : new MemoryCounters(), config.throttles, logger);
  const accounts = new AccountService(store, config, clock, throttles);
  const verifier = new Verifier({ config, format, store, cache, limiter, usage: recorder, clock, logger, throttles });
  const keys = new KeyService({ config, format, store, cache, bus, audit, clock });
  const members = new MemberService(store, cache, bus, audit, clock);
  const auth = new RequestAuth(accounts, verifier, config);
  const signIn = new GrantService(store, keys, config, clock, throttles);
  const usage = new UsageService({ store, recorder, keys, config, clock });
  const forms = new OneTimeForms(store, config.secret, clock);
  const ctx: AppContext = { config, clock, accounts, keys, members, usage, audit, forms, verifier, auth, metrics, signIn };
  const app = buildApp(ctx, logger);
  await app.ready();

  // Expired sessions and sign-in grants are refused when presented; this only keeps the tables small.
  const prune = () => void store.pruneExpired(clock.now()).catch((err) => logger.warn({ err }, 'pruning expired sessions failed'));
  const pruner = setInterval(prune, 10 * 60_000);
  pruner.unref();

  let closing: Promise<void> | undefined;
  return {
    app,
    ctx,
    store,
    recorder,
    close() {
      closing ??= (async () => {
        clearInterval(pruner);
        await app.close();
        await recorder.close();
        await bus.close();
        await limiter.close();
        await store.close();
      })();
      return closing;
    },
  };
}
