import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { postgresStore } from '../src/storage/postgres-store.js';
import type { Store } from '../src/storage/store.js';

/** The PostgreSQL server the suite may use (`KEYWARD_TEST_DATABASE_URL`, set by .ci/run), or null. */
export const postgresUrl = process.env.KEYWARD_TEST_DATABASE_URL ?? null;

/** A store on a database of its own, dropped when the store closes, so runs never see each other's rows. */
export async function freshPostgresStore(): Promise<Store> {
  const name = `kw_test_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: postgresUrl ?? '' });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const target = new URL(postgresUrl ?? '');
  target.pathname = `/${name}`;
  const store = postgresStore(target.toString());
  const close = store.close.bind(store);
  store.close = async () => {
    await close();
    const drop = new pg.Client({ connectionString: postgresUrl ?? '' });
    await drop.connect();
    await drop.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await drop.end();
  };
  return store;
}
