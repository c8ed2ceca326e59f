import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { keyToRow } from './keys/key-rows.js';
import { keyForVerifyFromRow, type VerifyRow, verifySql } from './keys/verify-lookup.js';
import { KyselyStore } from './kysely-store.js';
import type { Database } from './schema.js';
import { SqliteCheckpointer } from './sqlite-checkpointer.js';
import type { ApiKey, KeyForVerify, UsageBatch } from './store.js';
import { dailyUsageToRow, requestToRow } from './usage/usage-rows.js';

/**
 * The embedded default: one SQLite file through better-sqlite3, in WAL mode. The verify look-up, the one query on
 * the hot path, runs as a prepared statement directly, skipping Kysely's per-call query compilation.
 */
export class SqliteStore extends KyselyStore {
  readonly #sqlite: BetterSqlite3.Database;
  #verifyStatement: BetterSqlite3.Statement | undefined;
  #importStatement: BetterSqlite3.Statement | undefined;
  #usage: Record<'daily' | 'lastUsed' | 'request', BetterSqlite3.Statement> | undefined;

  readonly #checkpointer: SqliteCheckpointer | null;

  constructor(sqlite: BetterSqlite3.Database, checkpointer: SqliteCheckpointer | null = null) {
    super(new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) }), 'sqlite');
    this.#sqlite = sqlite;
    this.#checkpointer = checkpointer;
  }

  override async close(): Promise<void> {
    await this.#checkpointer?.close();
    await super.close();
  }

  override async migrate(): Promise<void> {
    await super.migrate();
    this.#verifyStatement = this.#sqlite.prepare(`${verifySql('sqlite')}?`);
  }

  /**
   * One transaction of prepared statements: the usage flush runs every second on the server's own thread. It takes
   * Kysely's hold on the one connection first, so it never lands inside another caller's open transaction.
   */
  override async recordUsage(batch: UsageBatch): Promise<void> {
    await this.root.connection().execute(async () => this.#recordUsageNow(batch));
  }

  #recordUsageNow(batch: UsageBatch): void {
    const db = this.#sqlite;
    this.#usage ??= {
      daily: db.prepare(
        'INSERT INTO usage_daily (key_id, day, allowed, denied, credits) VALUES (@key_id, @day, @allowed, @denied, @credits) ON CONFLICT (key_id, day) DO UPDATE SET allowed = usage_daily.allowed + excluded.allowed, denied = usage_daily.denied + excluded.denied, credits = usage_daily.credits + excluded.credits',
      ),
      lastUsed: db.prepare('UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)'),
      request: db.prepare(
        'INSERT INTO request_log (id, key_id, org_id, method, path, status, ip, at) VALUES (@id, @key_id, @org_id, @method, @path, @status, @ip, @at)',
      ),
    };
    const s = this.#usage;
    db.transaction(() => {
      for (const d of batch.daily) s.daily.run(dailyUsageToRow(d));
      for (const u of batch.lastUsed) s.lastUsed.run(u.at, u.keyId, u.at);
      for (const r of batch.requests) s.request.run(requestToRow(r));
    })();
  }

  /**
   * Imported keys, a batch at a time, as one transaction of one prepared statement (an import of a million keys
   * runs through here); a key whose hash is stored is skipped.
   */
  override async insertImportedKeys(keys: readonly ApiKey[]): Promise<number> {
    const first = keys[0];
    if (!first) return 0;
    return this.root.connection().execute(async () => {
      if (!this.#importStatement) {
        const columns = Object.keys(keyToRow(first));
        this.#importStatement = this.#sqlite.prepare(
          `INSERT INTO api_keys (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')}) ON CONFLICT DO NOTHING`,
        );
      }
      const statement = this.#importStatement;
      let inserted = 0;
      this.#sqlite.transaction(() => {
        for (const k of keys) inserted += statement.run(keyToRow(k)).changes;
      })();
      return inserted;
    });
  }

  override async findKeyForVerify(hash: string): Promise<KeyForVerify | undefined> {
    if (!this.#verifyStatement) return super.findKeyForVerify(hash);
    const row = this.#verifyStatement.get(hash) as VerifyRow | undefined;
    return row && keyForVerifyFromRow(row);
  }
}

/** Opens (creating when needed) the SQLite file at `path`; `:memory:` works for tests. */
export function sqliteStore(path: string): SqliteStore {
  if (path !== ':memory:') {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // Created 0600 before SQLite opens it, so SQLite gives its -wal and -shm files the same mode; older files too.
    closeSync(openSync(path, 'a', 0o600));
    for (const file of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(file)) chmodSync(file, 0o600);
  }
  const sqlite = new BetterSqlite3(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // The key table's hash index for a million keys is ~100 MB; SQLite's default 2 MB page cache makes every cache-missing
  // look-up a read. A 64 MB cache and memory-mapped reads keep look-up cost near-flat as keys grow (bench/keycount).
  sqlite.pragma('cache_size = -65536');
  sqlite.pragma('mmap_size = 268435456');
  if (path === ':memory:') return new SqliteStore(sqlite);
  // Checkpoints run on a worker thread's connection (see SqliteCheckpointer), not on a commit of this thread.
  sqlite.pragma('wal_autocheckpoint = 10000');
  return new SqliteStore(sqlite, new SqliteCheckpointer(path));
}
