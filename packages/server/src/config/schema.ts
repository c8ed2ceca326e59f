import { parseCidr } from '@keyward/core';
import { z } from 'zod';

const limit = z.number().int().positive().nullable();

/** A throttle's budget: `limit` events at once, then one more every `period_seconds / limit`; null switches it off. */
const budget = z
  .object({ limit: z.number().int().min(1).max(1_000_000), period_seconds: z.number().int().min(1).max(86_400) })
  .strict()
  .nullable()
  .optional();

const environment = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'lower-case letters, digits, _ or -, up to 32 characters'),
    prefix: z
      .string()
      .min(1)
      .max(32)
      .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces'),
    base_url: z.url().optional(),
  })
  .strict();

const plan = z
  .object({ requests_per_minute: limit.optional(), monthly_requests: limit.optional(), max_active_keys: limit.optional() })
  .strict();

/** The JSON config file. Every field is optional; `keyward serve` refuses to start when a value is wrong. */
/** Credentials configured by the SHA-256 of their value (what `keyward admin <command>` prints), by name. */
function credentials(command: string) {
  return z
    .array(
      z
        .object({
          name: z.string().min(1).max(64),
          sha256: z
            .string()
            .regex(/^[0-9a-f]{64}$/, `must be the SHA-256 of the credential, 64 hex digits (keyward admin ${command} prints it)`),
        })
        .strict(),
    )
    .max(100)
    .optional();
}

export const configFileSchema = z
  .object({
    environments: z
      .array(environment)
      .min(1)
      .refine((list) => new Set(list.map((e) => e.name)).size === list.length, 'environment names must be unique')
      .refine((list) => new Set(list.map((e) => e.prefix)).size === list.length, 'environment prefixes must be unique')
      .optional(),
    plans: z.record(z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/), plan).optional(),
    default_plan: z.string().optional(),
    public_url: z.url().optional(),
    agent_sign_in: z
      .object({
        direct_key_param: z
          .string()
          .regex(/^[A-Za-z0-9_]{1,64}$/)
          .nullable()
          .optional(),
        device_interval_seconds: z.number().int().min(1).max(60).optional(),
        allow_admin_scope: z.boolean().optional(),
        access_key_ttl_seconds: z.number().int().min(60).max(86_400).optional(),
        refresh_token_ttl_days: z.number().int().min(1).max(365).optional(),
      })
      .strict()
      .optional(),
    verifier_credentials: credentials('verifier-credential'),
    operator_credentials: credentials('operator-credential'),
    trusted_proxies: z.array(z.string().refine((s) => parseCidr(s) !== null, 'must be an IP address or CIDR')).optional(),
    database: z
      .object({ pool_size: z.number().int().min(1).max(1000).optional() })
      .strict()
      .optional(),
    cache: z
      .object({ max_entries: z.number().int().positive().optional(), ttl_seconds: z.number().positive().optional() })
      .strict()
      .optional(),
    limiter: z
      .object({ on_redis_error: z.enum(['open', 'closed']).optional() })
      .strict()
      .optional(),
    usage: z
      .object({
        flush_interval_ms: z.number().int().min(50).max(60_000).optional(),
        request_log_max_rows: z.number().int().min(0).optional(),
        request_log_retention_days: z.number().int().min(1).optional(),
        request_log_per_second: z.number().int().min(1).max(100_000).optional(),
      })
      .strict()
      .optional(),
    http: z
      .object({
        request_timeout_ms: z.number().int().min(1000).max(600_000).optional(),
        headers_timeout_ms: z.number().int().min(1000).max(600_000).optional(),
        keep_alive_timeout_ms: z.number().int().min(1000).max(600_000).optional(),
        idle_timeout_ms: z.number().int().min(1000).max(3_600_000).optional(),
      })
      .strict()
      .optional(),
    throttles: z
      .object({
        sign_in_per_pair: budget,
        sign_in_per_address: budget,
        sign_ups: budget,
        unknown_keys: budget,
        device_codes: budget,
        user_codes: budget,
        leak_reports: budget,
        client_registrations: budget,
        metadata_documents: budget,
        webhook_tests: budget,
      })
      .strict()
      .optional(),
    webhooks: z
      .object({
        retry_schedule_seconds: z.array(z.number().int().min(1).max(86_400)).min(1).max(30).optional(),
        timeout_seconds: z.number().int().min(1).max(60).optional(),
        allow_private_targets: z.boolean().optional(),
      })
      .strict()
      .optional(),
    leaks: z
      .object({
        github_keys_url: z.url({ protocol: /^https?$/ }).optional(),
        on_report: z.enum(['revoke', 'notify']).optional(),
      })
      .strict()
      .optional(),
    delegation: z
      .object({
        max_depth: z.number().int().min(0).max(10).optional(),
        max_children: z.number().int().min(0).max(10_000).optional(),
        /** Active keys the whole tree under a key made by a person may hold (its descendants at any depth). */
        max_descendants: z.number().int().min(0).max(1_000_000).optional(),
        default_ttl_seconds: z.number().int().min(1).max(31_536_000).nullable().optional(),
      })
      .strict()
      .optional(),
    scope_requests: z
      .object({
        max_pending_per_key: z.number().int().min(1).max(100).optional(),
        expires_in_seconds: z.number().int().min(1).max(86_400).optional(),
        interval_seconds: z.number().int().min(1).max(60).optional(),
      })
      .strict()
      .optional(),
    budgets: z
      .object({ exhausted_status: z.union([z.literal(402), z.literal(429)]).optional() })
      .strict()
      .optional(),
    allow_retired_environments: z.boolean().optional(),
    session_ttl_hours: z.number().positive().optional(),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
  })
  .strict();

export type ConfigFile = z.infer<typeof configFileSchema>;
