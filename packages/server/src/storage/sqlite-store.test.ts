import { sqliteStore } from './sqlite-store.js';
import { storeContract } from './store.contract.js';

storeContract('SQLite (in memory)', async () => sqliteStore(':memory:'));
