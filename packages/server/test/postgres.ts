import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { postgresStore } from '../src/storage/postgres-store.js';
import type { Store } from '../src/storage/store.js';

/** The PostgreSQL server the suite may use (`KEYWARD_TEST_DATABASE_URL`, set by .ci/run), or null. */
export const postgresUrl = process.env.KEYWARD_TEST_DATABASE_URL ?? null;

/** A database of its own, for one test file: its URL, and how to drop it. */
export async function freshPostgresDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `kw_test_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: postgresUrl ?? '' });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const target = new URL(postgresUrl ?? '');
  target.pathname = `/${name}`;
  return {
    url: target.toString(),
    async drop() {
      const drop = new pg.Client({ connectionString: postgresUrl ?? '' });
      await drop.connect();
      await drop.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await drop.end();
    },
  };
}

/** A store on a database of its own, dropped when the store closes, so runs never see each other's rows. */
export async function freshPostgresStore(): Promise<Store> {
  const db = await freshPostgresDatabase();
  const store = postgresStore(db.url);
  const close = store.close.bind(store);
  store.close = async () => {
    await close();
    await db.drop();
  };
  return store;
}
