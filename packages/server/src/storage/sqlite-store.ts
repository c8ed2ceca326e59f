import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { KyselyStore, keyForVerifyFromRow, VERIFY_SQL } from './kysely-store.js';
import type { Database } from './schema.js';
import type { KeyForVerify } from './store.js';

/**
 * The embedded default: one SQLite file through better-sqlite3, in WAL mode. The verify look-up, the one query on
 * the hot path, runs as a prepared statement directly, skipping Kysely's per-call query compilation.
 */
export class SqliteStore extends KyselyStore {
  readonly #sqlite: BetterSqlite3.Database;
  #verifyStatement: BetterSqlite3.Statement | undefined;

  constructor(sqlite: BetterSqlite3.Database) {
    super(new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) }), 'sqlite');
    this.#sqlite = sqlite;
  }

  override async migrate(): Promise<void> {
    await super.migrate();
    this.#verifyStatement = this.#sqlite.prepare(`${VERIFY_SQL}?`);
  }

  override async findKeyForVerify(hash: string): Promise<KeyForVerify | undefined> {
    if (!this.#verifyStatement) return super.findKeyForVerify(hash);
    const row = this.#verifyStatement.get(hash) as Parameters<typeof keyForVerifyFromRow>[0] | undefined;
    return row && keyForVerifyFromRow(row);
  }
}

/** Opens (creating when needed) the SQLite file at `path`; `:memory:` works for tests. */
export function sqliteStore(path: string): SqliteStore {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const sqlite = new BetterSqlite3(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  return new SqliteStore(sqlite);
}
