import { openSqliteStore } from './sqlite-store.js';
import { tempDbPath } from './test-helpers.js';
import { trackingStoreContract } from './testing/store-contract.js';

trackingStoreContract('SQLite', async () => {
  const { dbPath, cleanup } = tempDbPath();
  return { store: openSqliteStore(dbPath), cleanup };
});
