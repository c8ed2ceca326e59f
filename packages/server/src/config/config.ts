export interface Plan {
  /** null = unlimited */
  requestsPerMinute: number | null;
  monthlyRequests: number | null;
  maxActiveKeys: number | null;
}

export interface EnvironmentConfig {
  name: string;
  prefix: string;
  baseUrl?: string;
}

/** `limit` events at once, then one more every `periodMs / limit` (GCRA). */
export interface Budget {
  limit: number;
  periodMs: number;
}

/**
 * The budgets of the abuse throttles, each per client address (sign-in also per e-mail and address). Null
 * switches one off. The defaults are generous for people and agents, and cut guessing to a crawl.
 */
export interface ThrottleBudgets {
  /** Failed sign-ins of one e-mail from one address: slows guessing a password without a lockout. */
  signInPerPair: Budget | null;
  /** Failed sign-ins from one address, whatever the e-mail: slows spraying many accounts. */
  signInPerAddress: Budget | null;
  /** Sign-ups (accounts created, or tried) from one address. */
  signUps: Budget | null;
  /** Unknown or malformed keys from one address (whoami, verify, management API, in-process middleware). */
  unknownKeys: Budget | null;
  /** Device codes created from one address (`POST /api/device/code`). */
  deviceCodes: Budget | null;
  /** Wrong user codes typed on `/device` from one address. */
  userCodes: Budget | null;
  /** Calls of `POST /v1/keys/report-leak` and `POST /v1/keys/check` (one a call, up to 100 keys) from one address. */
  leakReports: Budget | null;
  /** OAuth clients registered (RFC 7591) from one address. */
  clientRegistrations: Budget | null;
  /** Client ID Metadata Documents fetched for sign-ins from one address (cached documents cost nothing). */
  metadataDocuments: Budget | null;
  /** Test events sent to webhooks (`POST /api/webhooks/:id/test`) by one organization, whatever its webhooks. */
  webhookTests: Budget | null;
}

/** Everything keyward runs on, parsed and checked once at start. Built by `loadConfig` or `defineConfig`. */
export interface KeywardConfig {
  host: string;
  port: number;
  dataDir: string;
  publicUrl: string;
  databaseUrl: string | null;
  redisUrl: string | null;
  secret: string;
  /**
   * Whether the server may start while active keys belong to environments it no longer has (`--allow-retire` or
   * `allow_retired_environments`): such keys are then retired, refused at verify and not counted.
   */
  allowRetiredEnvironments: boolean;
  /** The config file read (absolute path), or null when the defaults apply. */
  configFile: string | null;
  environments: EnvironmentConfig[];
  plans: Record<string, Plan>;
  /** Plan names from the smallest to the largest: a key's tier may not be later than its organization's plan. */
  planOrder: string[];
  defaultPlan: string;
  trustedProxies: string[];
  /**
   * Operator-level credentials of verifiers (an API gateway, the middleware's remote verifier), by the SHA-256 of
   * their value: only such a caller may pass the client's `ip` and `path` to the verify endpoint and read a key's
   * organization and metadata.
   */
  verifierCredentials: { name: string; sha256: string }[];
  /**
   * Credentials of the server's operator for its admin API (`POST /api/admin/import`), by the SHA-256 of their
   * value. Kept apart from verifier credentials: a gateway that checks keys must not be able to bring keys in.
   */
  operatorCredentials: { name: string; sha256: string }[];
  /**
   * `allowAdminScope`: whether the agent flows may issue `admin` keys at all (off unless configured). A client
   * asking for `offline_access` gets keys living `accessKeyTtlSeconds` and a refresh token for `refreshTokenTtlSeconds`.
   */
  agentSignIn: {
    directKeyParam: string | null;
    deviceIntervalSeconds: number;
    allowAdminScope: boolean;
    accessKeyTtlSeconds: number;
    refreshTokenTtlSeconds: number;
  };
  /** Connections in the PostgreSQL pool (`database.pool_size`, {@link DEFAULT_DATABASE_POOL_SIZE}); unused on SQLite. */
  databasePoolSize: number;
  cache: { maxEntries: number; ttlMs: number };
  limiter: { onRedisError: 'open' | 'closed' };
  usage: { flushIntervalMs: number; requestLogMaxRows: number; requestLogRetentionDays: number; requestLogPerSecond: number };
  sessionTtlMs: number;
  logLevel: string;
  /** Abuse throttles per client address: failed sign-ins, unknown keys, device codes, wrong user codes. */
  throttles: ThrottleBudgets;
  /**
   * How long a client may take: to send a whole request (`requestTimeoutMs`), its headers (`headersTimeoutMs`), to
   * send the next request on a kept-alive connection (`keepAliveTimeoutMs`), and how long a connection may stay
   * silent at all (`idleTimeoutMs`). A client slower than these is cut off; the server keeps answering others.
   */
  http: { requestTimeoutMs: number; headersTimeoutMs: number; keepAliveTimeoutMs: number; idleTimeoutMs: number };
  /**
   * Webhook deliveries: the wait before each retry after a failed try (seconds; when they run out the delivery
   * failed), how long one try may take, and whether targets may be private addresses (loopback, RFC 1918, link-local:
   * off, so that an organization cannot make the server call into its own network).
   */
  webhooks: { retryScheduleSeconds: number[]; timeoutMs: number; allowPrivateTargets: boolean };
  /** Leak reports: where GitHub's secret-scanning public keys are fetched, and what a confirmed report does. */
  leaks: { githubKeysUrl: string; onReport: 'revoke' | 'notify' };
  /**
   * Child keys (`POST /v1/keys/derive`, token exchange): how deep a tree may grow below a key made by a person, how
   * many active children one key may have, how many active keys the whole tree under a key made by a person may
   * hold, and the lifetime of a child that asks for none (null: its parent's).
   */
  delegation: { maxDepth: number; maxChildren: number; maxDescendants: number; defaultTtlSeconds: number | null };
  /**
   * Scope requests (CIBA): how many of one key's requests may wait for a decision at once, how long a request lives,
   * and how often its agent may poll.
   */
  scopeRequests: { maxPendingPerKey: number; expiresInSeconds: number; intervalSeconds: number };
  /** What a request answers when a credit budget is spent: 402 `budget_exhausted`, or 429 `quota_exceeded`. */
  budgets: { exhaustedStatus: 402 | 429 };
}

/**
 * Retries after a failed delivery, exponential, about 24 h in all (5 s, 15 s, 1 min, 5 min, 30 min, 1 h, 2 h, 4 h,
 * 8 h, 8 h): a receiver that is down for a moment gets the event within a couple of minutes, one down for a day too.
 */
export const DEFAULT_RETRY_SCHEDULE_SECONDS = [5, 15, 60, 300, 1800, 3600, 7200, 14_400, 28_800, 28_800];
export const GITHUB_KEYS_URL = 'https://api.github.com/meta/public_keys/secret_scanning';

/** The seeds' plans: Nomotic's per-minute limits, NANDA's monthly quotas and key counts. */
export const DEFAULT_PLANS: Record<string, Plan> = {
  free: { requestsPerMinute: 60, monthlyRequests: 1_000, maxActiveKeys: 5 },
  pro: { requestsPerMinute: 500, monthlyRequests: 10_000, maxActiveKeys: 25 },
  business: { requestsPerMinute: 2_000, monthlyRequests: 100_000, maxActiveKeys: null },
  enterprise: { requestsPerMinute: null, monthlyRequests: null, maxActiveKeys: null },
};

const MINUTE = 60_000;
export const DEFAULT_THROTTLES: ThrottleBudgets = {
  signInPerPair: { limit: 10, periodMs: 15 * MINUTE },
  signInPerAddress: { limit: 30, periodMs: 15 * MINUTE },
  signUps: { limit: 30, periodMs: 15 * MINUTE },
  unknownKeys: { limit: 100, periodMs: MINUTE },
  deviceCodes: { limit: 30, periodMs: 60 * MINUTE },
  userCodes: { limit: 20, periodMs: 15 * MINUTE },
  leakReports: { limit: 60, periodMs: MINUTE },
  clientRegistrations: { limit: 20, periodMs: 60 * MINUTE },
  metadataDocuments: { limit: 30, periodMs: 10 * MINUTE },
  webhookTests: { limit: 30, periodMs: 60 * MINUTE },
};

const UNLIMITED: Plan = { requestsPerMinute: null, monthlyRequests: null, maxActiveKeys: null };

/**
 * The plan a key is limited by: its tier, but never more than its organization's current plan (an organization
 * moved to a smaller plan takes its keys down with it at once).
 */
export function planForKey(config: Pick<KeywardConfig, 'plans' | 'planOrder'>, key: { tier: string; orgPlan: string }): Plan {
  const tierRank = config.planOrder.indexOf(key.tier);
  const orgRank = config.planOrder.indexOf(key.orgPlan);
  const name = tierRank === -1 ? key.orgPlan : orgRank !== -1 && orgRank < tierRank ? key.orgPlan : key.tier;
  return config.plans[name] ?? UNLIMITED;
}

/** A plan with a key's own caps applied (a child key's are at most its parent's): the lower of each. */
export function capPlan(plan: Plan, caps: { requestsPerMinute: number | null; monthlyRequests: number | null }): Plan {
  const lower = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
  if (caps.requestsPerMinute === null && caps.monthlyRequests === null) return plan;
  return {
    ...plan,
    requestsPerMinute: lower(plan.requestsPerMinute, caps.requestsPerMinute),
    monthlyRequests: lower(plan.monthlyRequests, caps.monthlyRequests),
  };
}

export const DEFAULT_ENVIRONMENTS: EnvironmentConfig[] = [
  { name: 'test', prefix: 'kw_test_' },
  { name: 'live', prefix: 'kw_live_' },
];

/**
 * Connections to PostgreSQL when `database.pool_size` is not set. Cache-missing look-ups of one event-loop turn share
 * one statement, so a few connections carry them (10 and 20 measured alike with 32 verifies in flight); the rest
 * leave room for the usage flush, webhooks and management queries beside them.
 */
export const DEFAULT_DATABASE_POOL_SIZE = 20;
