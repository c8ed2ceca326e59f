import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { AccountService } from './accounts/account-service.js';
import { AuditLog } from './audit/audit-log.js';
import { Sealer } from './auth/sealer.js';
import { ChangeFeed } from './cache/change-feed.js';
import { type Invalidation, type InvalidationBus, Invalidations, localBus } from './cache/invalidation-bus.js';
import { fanOut, PostgresBus } from './cache/postgres-bus.js';
import { RedisBus } from './cache/redis-bus.js';
import { type KeywardConfig, planForKey } from './config/config.js';
import { Environments } from './config/environments.js';
import { ConfigError } from './config/load-config.js';
import { OneTimeForms } from './forms/one-time-forms.js';
import { buildApp } from './http/app.js';
import type { AppContext } from './http/context.js';
import { Metrics } from './http/metrics.js';
import { RequestAuth } from './http/request-auth.js';
import { type Clock, systemClock } from './ids.js';
import { ImportedKeys } from './import/imported-keys.js';
import { Importer } from './import/importer.js';
import { KeyService } from './keys/key-service.js';
import { LeakService } from './leaks/leak-service.js';
import type { Limiter } from './limits/limiter.js';
import { MemoryLimiter } from './limits/memory-limiter.js';
import { RedisLimiter } from './limits/redis-limiter.js';
import { createLogger } from './logger.js';
import { MemberService } from './org/member-service.js';
import { connectRedis } from './redis/client.js';
import { ScopeRequestService } from './scope-requests/scope-request-service.js';
import { ClientRegistry } from './signin/clients.js';
import { GrantService } from './signin/grant-service.js';
import { openStore } from './storage/open-store.js';
import type { Store } from './storage/store.js';
import { MemoryCounters, RedisCounters } from './throttle/counters.js';
import { Throttles } from './throttle/throttles.js';
import { UsageRecorder } from './usage/usage-recorder.js';
import { UsageService } from './usage/usage-service.js';
import { KeyCache } from './verify/key-cache.js';
import { KeyLookup } from './verify/key-lookup.js';
import { Leases } from './verify/leases.js';
import { Verifier } from './verify/verifier.js';
import { WebhookDispatcher } from './webhooks/dispatcher.js';
import { Notices } from './webhooks/notices.js';
import { WebhookService } from './webhooks/webhook-service.js';

export interface KeywardOverrides {
  clock?: Clock;
  logger?: Logger;
  store?: Store;
  limiter?: Limiter;
  bus?: InvalidationBus;
  /**
   * Where the abuse throttles keep their counts in Redis (default `keyward:throttle:`). Instances that share counts
   * share it; test runs that share one Redis server each take their own, as their clients share one address.
   */
  throttlePrefix?: string;
}

export interface Keyward {
  app: FastifyInstance;
  ctx: AppContext;
  /** The storage and the usage recorder behind the services: for operator commands and tests, never for routes. */
  store: Store;
  recorder: UsageRecorder;
  /** Sends queued webhook deliveries (every second, and as events are queued); `kick()` makes it look now. */
  dispatcher: WebhookDispatcher;
  /** Webhook notices no single action causes (`key.expiring` is swept every 10 minutes: `sweepExpiring()`). */
  notices: Notices;
  /** What start-up says about keys of environments no longer configured (allowed to start), or null. */
  retired: string | null;
  /** Stops taking requests, writes queued usage, closes storage and connections. */
  close(): Promise<void>;
}

/**
 * Active keys whose environment is no longer configured, in words: refused at start-up unless allowed, else a
 * warning. Per environment and prefix, with what to do.
 */
export function retirementReport(retired: { environment: string; prefix: string; count: number }[], allowed: boolean): string {
  const total = retired.reduce((n, r) => n + r.count, 0);
  const list = retired.map((r) => `${r.environment} (prefix ${r.prefix}): ${r.count} key${r.count === 1 ? '' : 's'}`).join('; ');
  const head = `${total} active key${total === 1 ? '' : 's'} belong${total === 1 ? 's' : ''} to environments no longer configured: ${list}.`;
  if (allowed) {
    return `warning: ${head} They are retired: refused with a message that says so, shown as retired, not counted. Put the environment back under "environments" to revive them.`;
  }
  return `${head} They would stop working. Put the environment back under "environments", or retire them on purpose: start with --allow-retire (or set "allow_retired_environments": true in the config).`;
}

/** The one composition root: every service is built here, from one parsed config. */
export async function createKeyward(config: KeywardConfig, overrides: KeywardOverrides = {}): Promise<Keyward> {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const clock = overrides.clock ?? systemClock;
  const store = overrides.store ?? openStore(config);
  await store.migrate();
  const retired = await store.retiredKeys(
    config.environments.map((e) => e.name),
    clock.now(),
  );
  if (retired.length > 0 && !config.allowRetiredEnvironments) {
    await store.close();
    throw new ConfigError(retirementReport(retired, false));
  }
  const redis = config.redisUrl && (!overrides.limiter || !overrides.bus) ? await connectRedis(config.redisUrl) : null;
  const limiter =
    overrides.limiter ??
    (redis ? new RedisLimiter(redis, logger, { onRedisError: config.limiter.onRedisError }) : new MemoryLimiter(clock));
  // Served and retired environments, and the key formats for issuing and look-up, decided once for every service.
  const environments = new Environments(
    config.environments,
    retired.map((r) => ({ name: r.environment, prefix: r.prefix })),
  );
  const cache = new KeyCache(config.cache, (key) => planForKey(config, key), environments);
  // What remote verifiers hear: every invalidation this instance makes or hears of, numbered.
  const changes = new ChangeFeed();
  // Invalidations go out over Redis pub/sub and, on PostgreSQL, over LISTEN/NOTIFY too: a revocation reaches every
  // instance while either one works.
  const buses = [
    ...(redis ? [new RedisBus(redis, logger)] : []),
    ...(config.databaseUrl
      ? [
          new PostgresBus(config.databaseUrl, logger, () => {
            cache.clear();
            changes.reset();
          }),
        ]
      : []),
  ];
  const local = {
    apply(event: Invalidation) {
      cache.apply(event);
      changes.apply(event);
    },
  };
  const bus = overrides.bus ?? (buses.length === 0 ? localBus : buses.length === 1 ? (buses[0] as InvalidationBus) : fanOut(buses));
  await bus.subscribe((event) => local.apply(event));
  const invalidations = new Invalidations(local, bus);
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
  const counters = redis ? new RedisCounters(redis, logger, overrides.throttlePrefix) : new MemoryCounters();
  const throttles = new Throttles(counters, config.throttles, logger);
  const webhooks = new WebhookService(store, new Sealer(config.secret, 'keyward webhook secrets'), clock, config, throttles);
  // Audited key events are webhook events too, queued in the same transaction as the change.
  audit.listen((event) => webhooks.fromAudit(event));
  const dispatcher = new WebhookDispatcher(store, webhooks, config, clock, logger);
  const accounts = new AccountService(store, config, clock, throttles);
  const notices = new Notices(webhooks, store, clock, logger);
  // Keys imported from other products are looked up by their format-less hash only when there are any.
  const imported = new ImportedKeys(store, clock);
  await imported.refresh();
  const lookup = new KeyLookup({ format: environments.lookup, store, secret: config.secret, clock, imported });
  const verifier = new Verifier({
    config,
    environments,
    lookup,
    store,
    cache,
    limiter,
    usage: recorder,
    clock,
    logger,
    throttles,
    notices,
  });
  const keys = new KeyService({ config, environments, store, invalidations, audit, clock });
  const members = new MemberService(store, invalidations, audit, clock);
  const auth = new RequestAuth(accounts, verifier, config);
  const signIn = new GrantService(store, keys, config, environments, clock, throttles);
  // Client ID Metadata Documents are fetched with the webhooks' SSRF guard (and its development switch).
  const clients = new ClientRegistry({ store, clock, throttles, allowPrivateDocuments: config.webhooks.allowPrivateTargets });
  const usage = new UsageService({ store, recorder, keys, config, environments, clock });
  const forms = new OneTimeForms(store, config.secret, clock);
  const scopeRequests = new ScopeRequestService({ config, store, keys, audit, clock, environments });
  const leaks = new LeakService(keys, lookup, environments, config, clock, logger, throttles);
  const ctx: AppContext = {
    config,
    environments,
    clock,
    accounts,
    keys,
    members,
    usage,
    audit,
    forms,
    verifier,
    changes,
    leases: new Leases({ verifier, limiter, sealer: new Sealer(config.secret, 'keyward verifier leases'), clock, notices }),
    auth,
    metrics,
    signIn,
    clients,
    importer: new Importer({ store, config, clock, audit, imported, invalidations }),
    webhooks,
    leaks,
    scopeRequests,
  };
  const app = buildApp(ctx, logger);
  await app.ready();
  dispatcher.start();
  notices.start();

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
    dispatcher,
    notices,
    retired: retired.length > 0 ? retirementReport(retired, true) : null,
    close() {
      closing ??= (async () => {
        clearInterval(pruner);
        await app.close();
        notices.stop();
        await dispatcher.stop();
        await recorder.close();
        await bus.close();
        await limiter.close();
        await store.close();
      })();
      return closing;
    },
  };
}
