import { AsyncLocalStorage } from 'node:async_hooks';
import { type Kysely, Migrator } from 'kysely';
import { migrationProvider } from './migrations.js';
import type { Database } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

/**
 * The one database every aggregate store queries, and the transaction they all join. A transaction is carried by
 * the async call chain rather than passed along, so that a service can wrap calls to several stores (and other
 * services) in one without any of them knowing.
 */
export class DatabaseHandle {
  /** The transaction the current async call chain runs in, if any: every query through {@link db} joins it. */
  readonly #tx = new AsyncLocalStorage<Kysely<Database>>();

  constructor(
    readonly root: Kysely<Database>,
    readonly dialect: Dialect,
  ) {}

  /** The connection to query with: the ambient transaction's, else the pool. */
  get db(): Kysely<Database> {
    return this.#tx.getStore() ?? this.root;
  }

  get inTransaction(): boolean {
    return this.#tx.getStore() !== undefined;
  }

  transaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#tx.getStore()) return fn();
    return this.root.transaction().execute((trx) => this.#tx.run(trx, fn));
  }

  async lockOrganization(orgId: string): Promise<void> {
    if (!this.#tx.getStore()) throw new Error('lockOrganization() needs a transaction');
    // SQLite runs one transaction at a time on its one connection; PostgreSQL needs the row lock.
    if (this.dialect === 'postgres') await this.db.selectFrom('organizations').select('id').where('id', '=', orgId).forUpdate().execute();
  }

  async migrate(): Promise<void> {
    const { error, results } = await new Migrator({ db: this.db, provider: migrationProvider }).migrateToLatest();
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName;
      throw new Error(`database migration ${failed ?? ''} failed: ${(error as Error).message ?? error}`);
    }
  }

  async close(): Promise<void> {
    await this.root.destroy();
  }
}
