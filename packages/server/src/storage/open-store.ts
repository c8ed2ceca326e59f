import { join } from 'node:path';
import type { KeywardConfig } from '../config/config.js';
import { postgresStore } from './postgres-store.js';
import { sqliteStore } from './sqlite-store.js';
import type { Store } from './store.js';

/** The configured storage: PostgreSQL when `KEYWARD_DATABASE_URL` is set, else SQLite in the data folder. */
export function openStore(config: Pick<KeywardConfig, 'databaseUrl' | 'dataDir'> & { databasePoolSize?: number }): Store {
  return config.databaseUrl
    ? postgresStore(config.databaseUrl, { max: config.databasePoolSize })
    : sqliteStore(join(config.dataDir, 'keyward.db'));
}
