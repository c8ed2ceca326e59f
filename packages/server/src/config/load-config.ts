import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { z } from 'zod';
import { closestName, namesAt, sentenceOf } from '../problems.js';
import {
  type Budget,
  DEFAULT_DATABASE_POOL_SIZE,
  DEFAULT_ENVIRONMENTS,
  DEFAULT_PLANS,
  DEFAULT_RETRY_SCHEDULE_SECONDS,
  DEFAULT_THROTTLES,
  GITHUB_KEYS_URL,
  type KeywardConfig,
  type Plan,
  type ThrottleBudgets,
} from './config.js';
import { type ConfigFile, configFileSchema } from './schema.js';

/** What `keyward serve` was given on its command line. */
export interface ServeOptions {
  port?: number;
  host?: string;
  dataDir?: string;
  config?: string;
  /** `--allow-retire`: start even though active keys belong to environments no longer configured. */
  allowRetire?: boolean;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * The only place that reads `process.env`. Merges flags, environment variables and the JSON config file, checks
 * them, creates the data folder and the server secret, and returns one frozen config.
 */
export function loadConfig(options: ServeOptions = {}, env: NodeJS.ProcessEnv = process.env): KeywardConfig {
  // The file named, else ./keyward.config.json when there is one (what the usage line and the README show).
  const configPath = options.config ?? env.KEYWARD_CONFIG ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
  const file = configPath ? readConfigFile(configPath) : {};
  const dataDir = resolve(options.dataDir ?? env.KEYWARD_DATA_DIR ?? './.keyward');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // The folder holds the server secret and the database: only this user may list or read it, whatever it was before.
  chmodSync(dataDir, 0o700);
  // A command without a port (`admin import`, `admin claim-link`) makes links to the server last started on this
  // data folder, unless public_url says where people reach it.
  const lastServer = options.port === undefined ? lastServerUrl(dataDir) : null;
  return defineConfig(file, {
    ...(lastServer ? { fallbackPublicUrl: lastServer } : {}),
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 8787,
    dataDir,
    databaseUrl: env.KEYWARD_DATABASE_URL || null,
    redisUrl: env.KEYWARD_REDIS_URL || null,
    secret: env.KEYWARD_SECRET || readOrCreateSecret(dataDir),
    configFile: configPath ? resolve(configPath) : null,
    allowRetire: options.allowRetire ?? false,
  });
}

export const DEFAULT_CONFIG_FILE = './keyward.config.json';

/** Where `keyward serve` notes the address it listens at, in its data folder. */
const SERVER_URL_FILE = 'server-url';

/** Notes the address a server on this data folder listens at, for the operator's commands that make links. */
export function noteServerUrl(dataDir: string, url: string): void {
  writeFileSync(join(dataDir, SERVER_URL_FILE), `${url}\n`, { mode: 0o600 });
}

function lastServerUrl(dataDir: string): string | null {
  try {
    const url = readFileSync(join(dataDir, SERVER_URL_FILE), 'utf8').trim();
    return /^https?:\/\/\S+$/.test(url) ? url : null;
  } catch {
    return null;
  }
}

/** Timeouts with their defaults; headers never get longer than the whole request (Node refuses that). */
function httpTimeouts(t: {
  request_timeout_ms?: number | undefined;
  headers_timeout_ms?: number | undefined;
  keep_alive_timeout_ms?: number | undefined;
  idle_timeout_ms?: number | undefined;
}) {
  const requestTimeoutMs = t.request_timeout_ms ?? 30_000;
  return {
    requestTimeoutMs,
    headersTimeoutMs: Math.min(t.headers_timeout_ms ?? 10_000, requestTimeoutMs),
    keepAliveTimeoutMs: t.keep_alive_timeout_ms ?? 5_000,
    idleTimeoutMs: t.idle_timeout_ms ?? 60_000,
  };
}

function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${jsonProblem(text, (e as Error).message)}`);
  }
}

/** The server secret, made once with the CSPRNG into `<dataDir>/secret`, readable by its owner only. */
function readOrCreateSecret(dataDir: string): string {
  const path = join(dataDir, 'secret');
  if (!existsSync(path)) {
    writeFileSync(path, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' });
  } else if ((statSync(path).mode & 0o077) !== 0) {
    chmodSync(path, 0o600);
  }
  const secret = readFileSync(path, 'utf8').trim();
  if (secret.length < 16) throw new ConfigError(`the secret in ${path} is too short (16 characters at least)`);
  return secret;
}

/**
 * Where JSON.parse stopped, as a person finds it in an editor: `line 3, column 13: expected a property name or '}'`.
 * Node names only a character offset (`… in JSON at position 40`), or none at the end of the text.
 */
export function jsonProblem(text: string, message: string): string {
  const at = /at position (\d+)/.exec(message);
  const offset = at ? Number(at[1]) : text.length;
  const before = text.slice(0, offset).split('\n');
  const line = before.length;
  const column = (before.at(-1)?.length ?? 0) + 1;
  const what = message
    .replace(/\s*(in JSON )?at position \d+.*$/, '')
    .replace(/^Unexpected end of JSON input$/, 'the text ends too early')
    .replace(/^Expected/, 'expected');
  return `line ${line}, column ${column}: ${what}`;
}

/**
 * Every problem of a failed parse at once, one per line, each naming the setting by its path in the file
 * (`plans.free.requests_per_minute must be a positive number.`) and a misspelt one by the name it was probably
 * meant to be.
 */
function problemsOf(error: z.ZodError): string {
  const lines = error.issues.flatMap((issue) => {
    const where = issue.path.map(String).join('.');
    if (issue.code !== 'unrecognized_keys') return [sentenceOf(issue, 'the configuration')];
    const known = namesAt(configFileSchema, issue.path);
    return issue.keys.map((name) => {
      const field = where ? `${where}.${name}` : name;
      const meant = closestName(name, known);
      return `${field} is not a setting keyward knows${meant ? `; did you mean ${where ? `${where}.` : ''}${meant}?` : '.'}`;
    });
  });
  return lines.length === 1 ? (lines[0] as string) : `${lines.length} problems:\n${lines.map((l) => `  - ${l}`).join('\n')}`;
}

export interface RuntimeSettings {
  host: string;
  port: number;
  dataDir: string;
  databaseUrl: string | null;
  redisUrl: string | null;
  secret: string;
  /** The config file read, absolute; null when none. */
  configFile?: string | null;
  allowRetire?: boolean;
  /** The public URL when the file names none: the last server's on this data folder, for commands with no port. */
  fallbackPublicUrl?: string;
}

/** Validates a config file's contents and completes it with defaults. Pure: tests build configs with it. */
export function defineConfig(input: unknown, runtime: RuntimeSettings): KeywardConfig {
  const parsed = configFileSchema.safeParse(input ?? {});
  if (!parsed.success) {
    throw new ConfigError(`invalid configuration: ${problemsOf(parsed.error)}`);
  }
  const file: ConfigFile = parsed.data;
  if (runtime.secret.length < 16) throw new ConfigError('KEYWARD_SECRET must be at least 16 characters');
  const plans: Record<string, Plan> = { ...DEFAULT_PLANS };
  for (const [name, given] of Object.entries(file.plans ?? {})) {
    const base = plans[name] ?? { requestsPerMinute: null, monthlyRequests: null, maxActiveKeys: null };
    plans[name] = {
      requestsPerMinute: given.requests_per_minute === undefined ? base.requestsPerMinute : given.requests_per_minute,
      monthlyRequests: given.monthly_requests === undefined ? base.monthlyRequests : given.monthly_requests,
      maxActiveKeys: given.max_active_keys === undefined ? base.maxActiveKeys : given.max_active_keys,
    };
  }
  // Until the provider says which plan new organizations get, nobody is throttled: the seeds' plans are there to be
  // assigned (`"default_plan": "free"`), not imposed on an install that has not been configured.
  const defaultPlan = file.default_plan ?? 'enterprise';
  if (!plans[defaultPlan]) throw new ConfigError(`default_plan "${defaultPlan}" is not one of the plans`);
  const environments = (file.environments ?? DEFAULT_ENVIRONMENTS).map((e) =>
    'base_url' in e ? { name: e.name, prefix: e.prefix, ...(e.base_url ? { baseUrl: e.base_url } : {}) } : e,
  );
  const displayHost = runtime.host.includes(':') ? `[${runtime.host}]` : runtime.host;
  const publicUrl = (file.public_url ?? runtime.fallbackPublicUrl ?? `http://${displayHost}:${runtime.port}`).replace(/\/+$/, '');
  const { configFile, allowRetire, fallbackPublicUrl: _last, ...settings } = runtime;
  return Object.freeze({
    ...settings,
    configFile: configFile ?? null,
    allowRetiredEnvironments: (allowRetire ?? false) || (file.allow_retired_environments ?? false),
    publicUrl,
    environments,
    plans,
    planOrder: Object.keys(plans),
    defaultPlan,
    trustedProxies: file.trusted_proxies ?? [],
    verifierCredentials: file.verifier_credentials ?? [],
    operatorCredentials: file.operator_credentials ?? [],
    agentSignIn: {
      directKeyParam: file.agent_sign_in?.direct_key_param ?? null,
      deviceIntervalSeconds: file.agent_sign_in?.device_interval_seconds ?? 5,
      allowAdminScope: file.agent_sign_in?.allow_admin_scope ?? false,
      accessKeyTtlSeconds: file.agent_sign_in?.access_key_ttl_seconds ?? 3600,
      refreshTokenTtlSeconds: (file.agent_sign_in?.refresh_token_ttl_days ?? 30) * 86_400,
    },
    databasePoolSize: file.database?.pool_size ?? DEFAULT_DATABASE_POOL_SIZE,
    cache: { maxEntries: file.cache?.max_entries ?? 100_000, ttlMs: (file.cache?.ttl_seconds ?? 60) * 1000 },
    limiter: { onRedisError: file.limiter?.on_redis_error ?? 'open' },
    usage: {
      flushIntervalMs: file.usage?.flush_interval_ms ?? 1000,
      requestLogMaxRows: file.usage?.request_log_max_rows ?? 100_000,
      requestLogRetentionDays: file.usage?.request_log_retention_days ?? 30,
      requestLogPerSecond: file.usage?.request_log_per_second ?? 1000,
    },
    sessionTtlMs: (file.session_ttl_hours ?? 24 * 7) * 3_600_000,
    logLevel: file.log_level ?? 'info',
    http: httpTimeouts(file.http ?? {}),
    throttles: throttleBudgets(file.throttles ?? {}),
    webhooks: {
      retryScheduleSeconds: file.webhooks?.retry_schedule_seconds ?? DEFAULT_RETRY_SCHEDULE_SECONDS,
      timeoutMs: (file.webhooks?.timeout_seconds ?? 10) * 1000,
      allowPrivateTargets: file.webhooks?.allow_private_targets ?? false,
    },
    leaks: { githubKeysUrl: file.leaks?.github_keys_url ?? GITHUB_KEYS_URL, onReport: file.leaks?.on_report ?? 'revoke' },
    scopeRequests: {
      maxPendingPerKey: file.scope_requests?.max_pending_per_key ?? 3,
      expiresInSeconds: file.scope_requests?.expires_in_seconds ?? 600,
      intervalSeconds: file.scope_requests?.interval_seconds ?? 2,
    },
    delegation: {
      maxDepth: file.delegation?.max_depth ?? 3,
      maxChildren: file.delegation?.max_children ?? 100,
      maxDescendants: file.delegation?.max_descendants ?? 10_000,
      defaultTtlSeconds: file.delegation?.default_ttl_seconds === undefined ? 86_400 : file.delegation.default_ttl_seconds,
    },
    budgets: { exhaustedStatus: file.budgets?.exhausted_status ?? 402 },
  });
}

type BudgetFile = { limit: number; period_seconds: number } | null | undefined;

/** Each throttle as configured: its default when absent, off when null. */
function throttleBudgets(t: Record<string, BudgetFile>): ThrottleBudgets {
  const pick = (given: BudgetFile, fallback: Budget | null): Budget | null =>
    given === undefined ? fallback : given === null ? null : { limit: given.limit, periodMs: given.period_seconds * 1000 };
  const d = DEFAULT_THROTTLES;
  return {
    signInPerPair: pick(t.sign_in_per_pair, d.signInPerPair),
    signInPerAddress: pick(t.sign_in_per_address, d.signInPerAddress),
    signUps: pick(t.sign_ups, d.signUps),
    unknownKeys: pick(t.unknown_keys, d.unknownKeys),
    deviceCodes: pick(t.device_codes, d.deviceCodes),
    userCodes: pick(t.user_codes, d.userCodes),
    leakReports: pick(t.leak_reports, d.leakReports),
    clientRegistrations: pick(t.client_registrations, d.clientRegistrations),
    metadataDocuments: pick(t.metadata_documents, d.metadataDocuments),
    webhookTests: pick(t.webhook_tests, d.webhookTests),
  };
}
