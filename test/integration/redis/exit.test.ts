import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { DEAD_LETTER_COLLECTION } from '../../../src/core/policies/dead-letter/dead-letter-queue';
import { RedisStore } from '../../../src/store/redis/redis-store';
import { startApp } from '../../support/run-app';
import { SERVICES, serviceAvailable } from '../../support/services';
import { deleteKeys, freePort } from './servers';

/**
 * An agent must never keep its host process alive: with a Redis store that
 * answers, refuses or never answers, an app that is done exits by itself
 * (runs the built package: `npm test` builds first).
 */

const SHARED = `redis://${SERVICES.redis.host}:${SERVICES.redis.port}/0`;
/** Kill the app after this long: a bounded wait, far above what any path needs. */
const EXIT_DEADLINE_MS = 15_000;

async function runApp(redisUrl: string, keyPrefix: string) {
  const app = startApp({
    app: 'apps/redis-store-exit.cjs',
    preload: 'none',
    env: {
      REDIS_URL: redisUrl,
      KEY_PREFIX: keyPrefix,
      TEST_BUILD_DIR: process.env.TEST_BUILD_DIR,
    },
    timeoutMs: EXIT_DEADLINE_MS,
  });
  return app.exited;
}

// Gated in an async suite (no top-level await: test files compile as CommonJS).
describe('Redis store', async () => {
  const hasRedis = await serviceAvailable('redis');

  describe.runIf(hasRedis)('a process using the Redis store exits on its own', () => {
    const keyPrefix = `baldurtest_${randomBytes(4).toString('hex')}`;
    let blackhole: Server | undefined;
    const sockets = new Set<Socket>();

    afterAll(async () => {
      await deleteKeys(SHARED, `${keyPrefix}:*`);
      for (const socket of sockets) socket.destroy();
      await new Promise(resolve =>
        blackhole === undefined ? resolve(undefined) : blackhole.close(resolve),
      );
    });

    it('when Redis answers, after writing its dead letter', async () => {
      const result = await runApp(SHARED, keyPrefix);
      expect({ code: result.code, signal: result.signal }, result.stderr).toEqual({
        code: 0,
        signal: null,
      });
      expect(result.messages).toEqual([{ event: 'failed', message: 'boom' }]);
      const reader = new RedisStore({ url: SHARED, keyPrefix, timeoutMs: 2_000 });
      try {
        expect(await reader.countRecords(DEAD_LETTER_COLLECTION)).toBe(1);
      } finally {
        await reader.close();
      }
    });

    it('when nothing listens on the Redis port', async () => {
      const result = await runApp(`redis://127.0.0.1:${await freePort()}/0`, keyPrefix);
      expect({ code: result.code, signal: result.signal }, result.stderr).toEqual({
        code: 0,
        signal: null,
      });
      expect(result.messages).toEqual([{ event: 'failed', message: 'boom' }]);
    });

    it('when Redis accepts connections and never answers', async () => {
      blackhole = createServer(socket => {
        sockets.add(socket);
        socket.on('error', () => undefined);
      });
      const port = await freePort();
      await new Promise<void>(resolve => blackhole!.listen(port, '127.0.0.1', resolve));
      const result = await runApp(`redis://127.0.0.1:${port}/0`, keyPrefix);
      expect({ code: result.code, signal: result.signal }, result.stderr).toEqual({
        code: 0,
        signal: null,
      });
      expect(result.messages).toEqual([{ event: 'failed', message: 'boom' }]);
    });
  });
});
