import { describe, expect, it } from 'vitest';
import { dependencyKey } from '../../../instrumentations/shared/dependency-key';
import { describeCluster, describeRedis } from '../../../instrumentations/ioredis/dependency';

/** The dependency keys users match in config (`dependencies[].match`) and see in metrics. */
describe('ioredis dependency keys', () => {
  it('keys a standalone, socket or Sentinel client by what it connects to', () => {
    expect(dependencyKey(describeRedis({ host: 'Cache.internal', port: 6380, db: 2 }))).toBe(
      'redis:cache.internal:6380/2',
    );
    expect(dependencyKey(describeRedis({ host: 'localhost', port: 6379, db: 0 }))).toBe(
      'redis:localhost:6379/0',
    );
    expect(dependencyKey(describeRedis({ path: '/run/redis.sock', db: 1 }))).toBe(
      'redis:/run/redis.sock:0/1',
    );
    expect(
      dependencyKey(
        describeRedis({
          sentinels: [
            { host: 's1', port: 26380 },
            { host: 's2', port: 26379 },
          ],
          name: 'orders',
          db: 0,
        }),
      ),
    ).toBe('redis:orders:26380/0');
  });

  it('keys a Cluster by its first startup node, in every form ioredis accepts', () => {
    expect(
      dependencyKey(
        describeCluster([
          { host: '10.0.0.5', port: 7001 },
          { host: '10.0.0.6', port: 7002 },
        ]),
      ),
    ).toBe('redis:10.0.0.5:7001/0');
    expect(dependencyKey(describeCluster(['10.0.0.5:7001', '10.0.0.6:7002']))).toBe(
      'redis:10.0.0.5:7001/0',
    );
    expect(dependencyKey(describeCluster(['redis://node-a.example:7003']))).toBe(
      'redis:node-a.example:7003/0',
    );
    expect(dependencyKey(describeCluster([7004]))).toBe('redis:127.0.0.1:7004/0');
    expect(dependencyKey(describeCluster([{ port: 7005 }]))).toBe('redis:127.0.0.1:7005/0');
    expect(dependencyKey(describeCluster([{ host: 'node-b' }]))).toBe('redis:node-b:6379/0');
  });
});
