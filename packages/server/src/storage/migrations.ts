import { effectiveAllowlist } from '@keyward/core';
import { type Kysely, type Migration, type MigrationProvider, sql } from 'kysely';

/** Migrations live in code, in order; `Migrator` runs the missing ones at start on either database. */
const migrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('email', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text')
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('organizations')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('plan', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('members')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id'))
        .addColumn('user_id', 'text', (c) => c.references('users.id'))
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('invite_token_hash', 'text', (c) => c.unique())
        .addColumn('invite_expires_at', 'bigint')
        .addColumn('invited_by', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('joined_at', 'bigint')
        .addUniqueConstraint('members_org_email', ['org_id', 'email'])
        .execute();
      await db.schema.createIndex('members_user').on('members').column('user_id').execute();
      await db.schema
        .createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
        .addColumn('org_id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id'))
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('environment', 'text', (c) => c.notNull())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('tier', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('last4', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .addColumn('last_used_at', 'bigint')
        .addColumn('ip_allowlist', 'text', (c) => c.notNull())
        .addColumn('metadata', 'text', (c) => c.notNull())
        .addColumn('rotated_from', 'text')
        .addColumn('rotated_to', 'text')
        .execute();
      await db.schema.createIndex('api_keys_org').on('api_keys').columns(['org_id', 'created_at']).execute();
      await db.schema
        .createTable('usage_daily')
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('day', 'text', (c) => c.notNull())
        .addColumn('allowed', 'bigint', (c) => c.notNull())
        .addColumn('denied', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('usage_daily_pk', ['key_id', 'day'])
        .execute();
      await db.schema
        .createTable('request_log')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('org_id', 'text', (c) => c.notNull())
        .addColumn('method', 'text', (c) => c.notNull())
        .addColumn('path', 'text', (c) => c.notNull())
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('ip', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('request_log_key').on('request_log').columns(['key_id', 'at']).execute();
      await db.schema.createIndex('request_log_at').on('request_log').column('at').execute();
      await db.schema
        .createTable('audit_events')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('org_id', 'text', (c) => c.notNull())
        .addColumn('actor_type', 'text', (c) => c.notNull())
        .addColumn('actor_id', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text')
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_org_at').on('audit_events').columns(['org_id', 'at']).execute();
      await sql`SELECT 1`.execute(db);
    },
  },
  '0002_auth_grants': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('auth_grants')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('code_hash', 'text', (c) => c.notNull().unique())
        .addColumn('user_code', 'text', (c) => c.unique())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text')
        .addColumn('org_id', 'text')
        .addColumn('environment', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('scope', 'text')
        .addColumn('client_id', 'text')
        .addColumn('code_challenge', 'text')
        .addColumn('redirect_uri', 'text')
        .addColumn('poll_interval', 'integer', (c) => c.notNull())
        .addColumn('last_polled_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0003_lineage_and_form_tokens': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('api_keys').addColumn('lineage_id', 'text').execute();
      // A key's lineage is the first key of its rotation chain: roots name themselves, successors inherit, one
      // generation per pass (chains are short: each rotation adds one).
      await sql`UPDATE api_keys SET lineage_id = id WHERE rotated_from IS NULL`.execute(db);
      for (;;) {
        const r = await sql`UPDATE api_keys SET lineage_id = (SELECT p.lineage_id FROM api_keys p WHERE p.id = api_keys.rotated_from)
          WHERE lineage_id IS NULL AND EXISTS (SELECT 1 FROM api_keys p WHERE p.id = api_keys.rotated_from AND p.lineage_id IS NOT NULL)`.execute(
          db,
        );
        if (Number(r.numAffectedRows ?? 0) === 0) break;
      }
      await sql`UPDATE api_keys SET lineage_id = id WHERE lineage_id IS NULL`.execute(db);
      await db.schema.createIndex('api_keys_lineage').on('api_keys').column('lineage_id').execute();
      await db.schema.createIndex('members_org_role').on('members').columns(['org_id', 'role']).execute();
      await db.schema
        .createTable('form_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('location', 'text')
        .addColumn('secret', 'text')
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0004_revoke_keys_of_former_members': {
    async up(db: Kysely<unknown>) {
      // Keys of people who left stopped working when they left; they now say so and stop counting towards the plan.
      const now = Date.now();
      await sql`UPDATE api_keys SET revoked_at = ${now}
        WHERE (revoked_at IS NULL OR revoked_at > ${now})
          AND NOT EXISTS (SELECT 1 FROM members m WHERE m.org_id = api_keys.org_id AND m.user_id = api_keys.created_by)`.execute(db);
    },
  },
  '0005_webhooks': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('webhooks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('org_id', 'text', (c) => c.notNull())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('events', 'text', (c) => c.notNull())
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('webhooks_org').on('webhooks').columns(['org_id', 'created_at']).execute();
      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('webhook_id', 'text', (c) => c.notNull())
        .addColumn('org_id', 'text', (c) => c.notNull())
        .addColumn('event_type', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'text', (c) => c.notNull())
        .addColumn('next_attempt_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('deliveries_due').on('webhook_deliveries').columns(['status', 'next_attempt_at']).execute();
      await db.schema.createIndex('deliveries_hook').on('webhook_deliveries').columns(['webhook_id', 'created_at']).execute();
      await db.schema.alterTable('api_keys').addColumn('leak', 'text').execute();
      await db.schema
        .createTable('webhook_notices')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0006_key_trees': {
    async up(db: Kysely<unknown>) {
      // Child keys: the key each was derived from, its depth, the agent it was issued to, its own caps (at most
      // its parent's), and the closure of its ancestors, so that a subtree is one indexed look-up.
      await db.schema.alterTable('api_keys').addColumn('parent_id', 'text').execute();
      await db.schema
        .alterTable('api_keys')
        .addColumn('depth', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.alterTable('api_keys').addColumn('agent', 'text').execute();
      await db.schema.alterTable('api_keys').addColumn('budget', 'bigint').execute();
      await db.schema.alterTable('api_keys').addColumn('requests_per_minute', 'integer').execute();
      await db.schema.alterTable('api_keys').addColumn('monthly_requests', 'bigint').execute();
      await db.schema.alterTable('api_keys').addColumn('resource', 'text').execute();
      // What the verify path needs of a child's ancestors (their lineages and limits, which never change), on the
      // child's own row: one look-up for any key. Liveness needs no ancestor: revocation and expiry are written
      // down the subtree when they happen.
      await db.schema.alterTable('api_keys').addColumn('ancestry', 'text').execute();
      await db.schema.createIndex('api_keys_parent').on('api_keys').columns(['parent_id']).execute();
      await db.schema.createIndex('api_keys_agent').on('api_keys').columns(['org_id', 'agent']).execute();
      await db.schema
        .createTable('key_ancestors')
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('ancestor_id', 'text', (c) => c.notNull())
        .addColumn('distance', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('key_ancestors_pk', ['key_id', 'ancestor_id'])
        .execute();
      await db.schema.createIndex('key_ancestors_ancestor').on('key_ancestors').columns(['ancestor_id']).execute();
      // Credits spent (a request's cost) per key and day: what a budget has used, summed over the key's tree.
      await db.schema
        .alterTable('usage_daily')
        .addColumn('credits', 'bigint', (c) => c.notNull().defaultTo(0))
        .execute();
    },
  },
  '0007_oauth_clients': {
    async up(db: Kysely<unknown>) {
      // MCP clients: dynamically registered OAuth clients (RFC 7591), the resource a sign-in is for (RFC 8707),
      // and refresh tokens, single-use and in families so that a reused one revokes its whole family.
      await db.schema
        .createTable('oauth_clients')
        .addColumn('client_id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('redirect_uris', 'text', (c) => c.notNull())
        .addColumn('grant_types', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('created_ip', 'text', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema.alterTable('auth_grants').addColumn('resource', 'text').execute();
      await db.schema
        .alterTable('auth_grants')
        .addColumn('offline', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .createTable('refresh_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('family_id', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('client_id', 'text')
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('org_id', 'text', (c) => c.notNull())
        .addColumn('environment', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('scope', 'text')
        .addColumn('resource', 'text')
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('refresh_tokens_family').on('refresh_tokens').columns(['family_id']).execute();
    },
  },
  '0008_imported_keys': {
    async up(db: Kysely<unknown>) {
      // Keys taken over from another product: where from, and, once a key was used here, a keyed reference of the
      // hash it was imported with, so that a re-import skips it. Until then the key's `hash` is that imported hash
      // (`sha256:<hex>`), which its first use replaces with keyward's HMAC: a million imported keys add no index.
      await db.schema.alterTable('api_keys').addColumn('imported_from', 'text').execute();
      await db.schema.alterTable('api_keys').addColumn('import_ref', 'text').execute();
      await db.schema
        .createIndex('api_keys_import_ref')
        .on('api_keys')
        .columns(['import_ref'])
        .unique()
        .where(sql.ref('import_ref'), 'is not', null)
        .execute();
    },
  },
  '0009_ancestor_allowlists': {
    async up(db: Kysely<unknown>) {
      // A child key is held by every ancestor's IP allowlist, which the verify path reads from the child's own
      // `ancestry` (allowlists never change). Children made before carry no allowlists there: fill them in, and
      // give a child that stored none of its own the one it really has, so that its page shows the truth.
      await backfillAncestorAllowlists(db);
    },
  },
  '0010_refresh_tokens_key': {
    async up(db: Kysely<unknown>) {
      // Every revocation ends the refresh families whose live token came with the revoked key (or one below it).
      await db.schema.createIndex('refresh_tokens_key').on('refresh_tokens').columns(['key_id']).execute();
    },
  },
  '0011_idle_timeout': {
    async up(db: Kysely<unknown>) {
      // A key may end after a stretch of disuse, counted from `last_used_at` (written by the usage flush).
      await db.schema.alterTable('api_keys').addColumn('idle_timeout_seconds', 'bigint').execute();
    },
  },
  '0012_scope_requests': {
    async up(db: Kysely<unknown>) {
      // An agent asks for a wider scope (CIBA); a person decides. The key it becomes records the request (JSON).
      await db.schema.alterTable('api_keys').addColumn('scope_request', 'text').execute();
      await db.schema
        .createTable('scope_requests')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('org_id', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('environment', 'text', (c) => c.notNull())
        .addColumn('agent', 'text')
        .addColumn('current_scope', 'text', (c) => c.notNull())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('resource', 'text')
        .addColumn('requested_expiry', 'bigint')
        .addColumn('auth_req_hash', 'text', (c) => c.notNull().unique())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('decided_by', 'text')
        .addColumn('decided_at', 'bigint')
        .addColumn('granted_scope', 'text')
        .addColumn('granted_expires_at', 'bigint')
        .addColumn('issued_key_id', 'text')
        .addColumn('poll_interval', 'bigint', (c) => c.notNull())
        .addColumn('last_polled_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('scope_requests_org').on('scope_requests').columns(['org_id', 'status', 'created_at']).execute();
      await db.schema.createIndex('scope_requests_key').on('scope_requests').columns(['key_id', 'status']).execute();
    },
  },
};

/**
 * Adds each ancestor's `ipAllowlist` to the `ancestry` of every child key, and writes the allowlist of the chain
 * into a child's own empty `ip_allowlist`, a page of 1,000 children at a time.
 */
async function backfillAncestorAllowlists(db: Kysely<unknown>): Promise<void> {
  type Fact = { id: string; ipAllowlist?: string[] };
  let after = '';
  for (;;) {
    const page = await sql<{ id: string; ancestry: string; ip_allowlist: string }>`SELECT id, ancestry, ip_allowlist FROM api_keys
      WHERE ancestry IS NOT NULL AND id > ${after} ORDER BY id LIMIT 1000`.execute(db);
    const last = page.rows.at(-1);
    if (!last) return;
    after = last.id;
    const chains = page.rows.map((r) => ({
      id: r.id,
      own: JSON.parse(r.ip_allowlist) as string[],
      facts: JSON.parse(r.ancestry) as Fact[],
    }));
    const ids = [...new Set(chains.flatMap((c) => c.facts.map((f) => f.id)))];
    const lists = new Map<string, string[]>();
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await sql<{ id: string; ip_allowlist: string }>`SELECT id, ip_allowlist FROM api_keys
        WHERE id IN (${sql.join(ids.slice(i, i + 500))})`.execute(db);
      for (const r of rows.rows) lists.set(r.id, JSON.parse(r.ip_allowlist) as string[]);
    }
    for (const chain of chains) {
      if (chain.facts.every((f) => Array.isArray(f.ipAllowlist))) continue;
      const facts = chain.facts.map((f) => ({ ...f, ipAllowlist: f.ipAllowlist ?? lists.get(f.id) ?? [] }));
      const region = chain.own.length > 0 ? chain.own : effectiveAllowlist(facts.map((f) => f.ipAllowlist));
      await sql`UPDATE api_keys SET ancestry = ${JSON.stringify(facts)}, ip_allowlist = ${JSON.stringify(region ?? chain.own)}
        WHERE id = ${chain.id}`.execute(db);
    }
  }
}

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};
