import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { postgresStore } from './postgres-store.js';
import { storeContract } from './store.contract.js';

const url = process.env.KEYWARD_TEST_DATABASE_URL;
if (!url) console.warn('[skip] PostgreSQL store contract: set KEYWARD_TEST_DATABASE_URL to run it (as .ci/run does)');

/** A fresh database per run, dropped when the store closes, so runs never see each other's rows. */
storeContract(
  'PostgreSQL',
  async () => {
    const name = `kw_contract_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const target = new URL(url ?? '');
    target.pathname = `/${name}`;
    const store = postgresStore(target.toString());
    const close = store.close.bind(store);
    store.close = async () => {
      await close();
      const drop = new pg.Client({ connectionString: url });
      await drop.connect();
      await drop.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await drop.end();
    };
    return store;
  },
  Boolean(url),
);
