import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { DEFAULT_DATABASE_POOL_SIZE } from '../config/config.js';
import { keyForVerifyFromRow, type VerifyRow, verifySql } from './keys/verify-lookup.js';
import { KyselyStore } from './kysely-store.js';
import type { Database } from './schema.js';
import type { KeyForVerify, UsageBatch } from './store.js';

const INT8_OID = 20;

/**
 * The verify look-up as a named prepared statement for any number of keys at once: PostgreSQL parses and plans it
 * once per connection, and no query is compiled per call (through Kysely every miss did both).
 */
const VERIFY = {
  name: 'keyward_verify_keys',
  text: `${verifySql('postgres').replace(/^SELECT /, 'SELECT k.hash AS lookup_hash, ')}ANY($1::text[])`,
};
/** Look-ups sent in one statement at most. */
const LOOKUPS_PER_QUERY = 128;

interface Lookup {
  hash: string;
  resolve: (key: KeyForVerify | undefined) => void;
  reject: (error: unknown) => void;
}

/**
 * One flush of the usage recorder as one statement (atomic, one round trip): counters added, last-used times moved
 * forward and request-log rows inserted, each from arrays. Through Kysely a flush was one statement per counter and
 * per key, 2,000 round trips a second with 1,000 keys in use.
 */
const RECORD_USAGE = {
  name: 'keyward_record_usage',
  text: `WITH daily AS (
    INSERT INTO usage_daily (key_id, day, allowed, denied, credits)
    SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[])
    ON CONFLICT (key_id, day) DO UPDATE SET allowed = usage_daily.allowed + excluded.allowed,
      denied = usage_daily.denied + excluded.denied, credits = usage_daily.credits + excluded.credits
  ), used AS (
    UPDATE api_keys k SET last_used_at = u.at FROM unnest($6::text[], $7::bigint[]) AS u (id, at)
    WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)
  )
  INSERT INTO request_log (id, key_id, org_id, method, path, status, ip, at)
  SELECT * FROM unnest($8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::int[], $14::text[], $15::bigint[])`,
};

/**
 * PostgreSQL through node-postgres, every query through Kysely but the hot path's: the verify look-up and the usage
 * flush run as named prepared statements on the pool directly. BIGINT columns come back as numbers (our times fit
 * in 2^53).
 */
export class PostgresStore extends KyselyStore {
  constructor(
    root: Kysely<Database>,
    private readonly pool: pg.Pool,
  ) {
    super(root, 'postgres');
  }

  #lookups: Lookup[] = [];

  /**
   * Look-ups that miss the cache in the same turn of the event loop go to PostgreSQL together, as one statement
   * (pipelined): one round trip, one write and one read of the socket for all of them. With 32 verifies in flight,
   * one statement each spent a fifth of the server's time in the socket writes alone.
   */
  override findKeyForVerify(hash: string): Promise<KeyForVerify | undefined> {
    // Inside a transaction the look-up must see what it wrote: that goes through its connection.
    if (this.inTransaction) return super.findKeyForVerify(hash);
    return new Promise((resolve, reject) => {
      if (this.#lookups.length === 0) setImmediate(() => this.#sendLookups());
      this.#lookups.push({ hash, resolve, reject });
    });
  }

  #sendLookups(): void {
    const all = this.#lookups;
    this.#lookups = [];
    for (let i = 0; i < all.length; i += LOOKUPS_PER_QUERY) {
      const batch = all.slice(i, i + LOOKUPS_PER_QUERY);
      this.pool.query<VerifyRow & { lookup_hash: string }>({ ...VERIFY, values: [batch.map((l) => l.hash)] }).then(
        ({ rows }) => {
          const found = new Map(rows.map((r) => [r.lookup_hash, r]));
          for (const l of batch) {
            const row = found.get(l.hash);
            l.resolve(row && keyForVerifyFromRow(row));
          }
        },
        (error: unknown) => {
          for (const l of batch) l.reject(error);
        },
      );
    }
  }

  override async recordUsage(batch: UsageBatch): Promise<void> {
    if (batch.daily.length + batch.lastUsed.length + batch.requests.length === 0) return;
    if (this.inTransaction) return super.recordUsage(batch);
    // One row per key and day, one time per key: a statement may not touch a row twice.
    const daily = new Map<string, { keyId: string; day: string; allowed: number; denied: number; credits: number }>();
    for (const d of batch.daily) {
      const id = `${d.keyId}|${d.day}`;
      const had = daily.get(id);
      if (had) {
        had.allowed += d.allowed;
        had.denied += d.denied;
        had.credits += d.credits;
      } else daily.set(id, { ...d });
    }
    const used = new Map<string, number>();
    for (const u of batch.lastUsed) used.set(u.keyId, Math.max(used.get(u.keyId) ?? 0, u.at));
    const d = [...daily.values()];
    const r = batch.requests;
    await this.pool.query({
      ...RECORD_USAGE,
      values: [
        d.map((x) => x.keyId),
        d.map((x) => x.day),
        d.map((x) => x.allowed),
        d.map((x) => x.denied),
        d.map((x) => x.credits),
        [...used.keys()],
        [...used.values()],
        r.map((x) => x.id),
        r.map((x) => x.keyId),
        r.map((x) => x.orgId),
        r.map((x) => x.method),
        r.map((x) => x.path),
        r.map((x) => x.status),
        r.map((x) => x.ip),
        r.map((x) => x.at),
      ],
    });
  }
}

/**
 * PostgreSQL through node-postgres. `max` connections (default `database.pool_size`, 20 by default): a cache-missing verify holds
 * one for a round trip, so the pool bounds how many look-ups are in flight at once.
 */
export function postgresStore(connectionString: string, options: { max?: number | undefined } = {}): PostgresStore {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? DEFAULT_DATABASE_POOL_SIZE,
    // A database that does not answer fails a request in seconds (a 503) instead of holding it forever.
    connectionTimeoutMillis: 5000,
    types: {
      getTypeParser: ((oid: number, format?: string) =>
        oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
  });
  // A client that loses its connection must not crash the server. Idle, the pool re-emits its error (heard here)
  // and replaces it; checked out (a transaction between two statements when PostgreSQL shuts down, "terminating
  // connection due to administrator command"), nobody else listens: its statement fails instead, and the pool
  // discards it when it is released with that error.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return new PostgresStore(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), pool);
}
