import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { KyselyStore } from './kysely-store.js';
import type { Database } from './schema.js';

const INT8_OID = 20;

/** PostgreSQL through node-postgres. BIGINT columns come back as numbers (our times fit in 2^53). */
export function postgresStore(connectionString: string, options: { max?: number } = {}): KyselyStore {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    // A database that does not answer fails a request in seconds (a 503) instead of holding it forever.
    connectionTimeoutMillis: 5000,
    types: {
      getTypeParser: ((oid: number, format?: string) =>
        oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client that loses its connection must not crash the server; the pool replaces it.
  pool.on('error', () => {});
  return new KyselyStore(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), 'postgres');
}
