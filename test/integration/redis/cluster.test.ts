import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../../src/store/redis/redis-store';
import { ResilientStore } from '../../../src/store/resilient-store';
import { describeStoreConformance } from '../../conformance/store-conformance';
import { serviceAvailable } from '../../support/services';
import { LocalCluster, cli, sleep } from './servers';

/**
 * A real 3-master Redis Cluster on free local ports, started and stopped by
 * this file: the conformance suite over `redis+cluster://` with two clients,
 * and a check that every script's keys share one slot.
 */

// Gated in an async suite (no top-level await: test files compile as CommonJS).
describe('Redis store', async () => {
  const hasRedis = await serviceAvailable('redis');

  describe.runIf(hasRedis)('RedisStore on a Redis Cluster', () => {
    let cluster: LocalCluster;
    const stores: RedisStore[] = [];

    beforeAll(async () => {
      cluster = await LocalCluster.start(3);
    });

    afterAll(async () => {
      await Promise.all(stores.map(store => store.close()));
      await cluster?.stop();
    });

    const open = (): RedisStore => {
      const store = new RedisStore({ url: cluster.url, keyPrefix: 'cluster', timeoutMs: 2_000 });
      stores.push(store);
      return store;
    };

    describeStoreConformance('redis+cluster (two clients, through the resilient decorator)', () => {
      const clients = [open(), open()].map(
        store => new ResilientStore(store, { timeoutMs: 2_000 }),
      );
      return Promise.resolve({ stores: clients, elapse: sleep, close: () => Promise.resolve() });
    });

    it('puts every key a script touches in one slot, and spreads collections over the nodes', async () => {
      const store = open();
      const port = cluster.servers[0]!.port;
      const slot = async (key: string): Promise<number> =>
        Number(await cli(port, ['cluster', 'keyslot', key]));
      const slots = new Set<number>();
      for (const name of ['dead-letters', 'instances', '', '}', '{x}', 'a%b']) {
        const keys = store.keys.collection(name);
        const indexSlot = await slot(keys.index);
        expect(await slot(keys.data)).toBe(indexSlot);
        expect(await slot(keys.expiry)).toBe(indexSlot);
        slots.add(indexSlot);
      }
      expect(slots.size).toBeGreaterThan(1);
    });

    it('reaches keys on every master through redirections (MOVED) from any startup node', async () => {
      const store = open();
      const keys = Array.from({ length: 30 }, (_, i) => `spread-${i}`);
      await Promise.all(keys.map(key => store.set(key, key)));
      const values = await Promise.all(keys.map(key => store.get(key)));
      expect(values.map(v => v?.value)).toEqual(keys);
      const perNode = await Promise.all(
        cluster.servers.map(async server => Number(await cli(server.port, ['dbsize']))),
      );
      expect(perNode.every(count => count > 0)).toBe(true);
    });
  });
});
