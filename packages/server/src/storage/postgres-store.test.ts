import { freshPostgresStore, postgresUrl } from '../../test/postgres.js';
import { storeContract } from './store.contract.js';

if (!postgresUrl) console.warn('[skip] PostgreSQL store contract: set KEYWARD_TEST_DATABASE_URL to run it (as .ci/run does)');

/** A fresh database per run, dropped when the store closes, so runs never see each other's rows. */
storeContract('PostgreSQL', freshPostgresStore, Boolean(postgresUrl));
