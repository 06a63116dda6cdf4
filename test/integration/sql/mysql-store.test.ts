import { setTimeout as sleep } from 'node:timers/promises';
import { describe } from 'vitest';
import { describeStoreConformance } from '../../conformance/store-conformance';
import { serviceAvailable } from '../../support/services';
import { createSqlTestStore, PlainSql, uniquePrefix } from './support';

// Gated in an async suite (no top-level await: test files compile as CommonJS).
describe('MySqlStore on the shared MariaDB/MySQL', async () => {
  const available = await serviceAvailable('mysql');
  describe.runIf(available)('conformance', () => {
    // Two stores = two separate pools (and pub/sub connections) on one database and prefix.
    describeStoreConformance('mysql (two pools)', async () => {
      const prefix = uniquePrefix('conf');
      const stores = [0, 1].map(() => createSqlTestStore('mysql', prefix));
      await Promise.all(stores.map(store => store.start()));
      return {
        stores,
        elapse: ms => sleep(ms),
        // Every write waits for a WAL/redo flush; stretch the TTL scenarios so load spikes cannot break them.
        timeScale: 4,
        close: async () => {
          await Promise.all(stores.map(store => store.close()));
          const sql = PlainSql.open('mysql');
          await sql.dropPrefix(prefix);
          await sql.close();
        },
      };
    });
  });
});
