import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log';
import { RedisStore } from '../../../src/store/redis/redis-store';
import { ResilientStore } from '../../../src/store/resilient-store';
import { serviceAvailable } from '../../support/services';
import { LocalSentinel, cli, until } from './servers';

/**
 * The client factory against a real Sentinel setup (a primary, a replica,
 * one sentinel): the store finds the master through the sentinel, and after
 * a failover it finds the new one. Fleet behaviour under failover is tested
 * with the fleet features.
 */

// Gated in an async suite (no top-level await: test files compile as CommonJS).
describe('Redis store', async () => {
  const hasRedis = await serviceAvailable('redis');

  describe.runIf(hasRedis)('RedisStore through Redis Sentinel', () => {
    let sentinel: LocalSentinel;

    beforeAll(async () => {
      sentinel = await LocalSentinel.start();
    });

    afterAll(async () => {
      await sentinel?.stop();
    });

    it('finds the master through the sentinel, and the new master after a failover', async () => {
      const lines: string[] = [];
      const logger = createLogger('info', line => lines.push(line));
      const redis = new RedisStore({
        url: sentinel.url,
        keyPrefix: 'sentinel',
        timeoutMs: 1_000,
        logger,
      });
      const store = new ResilientStore(redis, { timeoutMs: 1_000 });
      try {
        await store.set('before', 'written to the first master');
        expect(await cli(sentinel.primary.port, ['hget', 'sentinel:k:{before}', 'v'])).toBe(
          'written to the first master',
        );
        expect(await sentinel.masterPort()).toBe(sentinel.primary.port);
        // Replication is asynchronous and a Sentinel failover does not wait for it: let the
        // replica catch up first, so the key's survival tests the store, not replication lag.
        await until(
          async () =>
            (await cli(sentinel.replica.port, ['hget', 'sentinel:k:{before}', 'v'])) ===
            'written to the first master',
          'the replica has the write',
          10_000,
        );

        await cli(sentinel.sentinelPort, ['sentinel', 'failover', LocalSentinel.MASTER]);
        await until(
          async () => (await sentinel.masterPort()) === sentinel.replica.port,
          'the sentinel promotes the replica',
          20_000,
        );
        // The old master still accepts writes until Sentinel reconfigures it (seconds later); the
        // store must not write there: it drops its connections when the sentinel announces the switch.
        await until(
          () => lines.some(line => line.includes('Redis Sentinel switched master mymaster')),
          'the store hears +switch-master',
          10_000,
        );
        expect((await cli(sentinel.primary.port, ['role'])).startsWith('master')).toBe(true);
        // Writes fail for a moment (READONLY on the demoted master, reconnect), then land on the new master.
        await until(
          async () =>
            (await store.set('after', 'written to the new master').catch(() => undefined)) !==
            undefined,
          'a write succeeds after the failover',
          20_000,
        );
        expect(await cli(sentinel.replica.port, ['hget', 'sentinel:k:{after}', 'v'])).toBe(
          'written to the new master',
        );
        expect((await store.get('before'))?.value).toBe('written to the first master');
      } finally {
        await store.close();
      }
    });
  });
});
