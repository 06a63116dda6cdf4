import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load';
import { createStore } from '../../../src/store/create-store';
import { RedisStore } from '../../../src/store/redis/redis-store';
import { ResilientStore } from '../../../src/store/resilient-store';
import { serviceAvailable } from '../../support/services';
import { RedisServer, cli } from './servers';

/** Credentials come from BALDUR_REDIS_USERNAME / BALDUR_REDIS_PASSWORD, never from the URL. */
// Gated in an async suite (no top-level await: test files compile as CommonJS).
describe('Redis store', async () => {
  const hasRedis = await serviceAvailable('redis');

  describe.runIf(hasRedis)('Redis credentials (private server with ACL users)', () => {
    let server: RedisServer;
    const PASSWORD = 'default-s3cret';
    const AGENT_PASSWORD = 'agent-s3cret';

    beforeAll(async () => {
      server = await RedisServer.start({
        args: ['--requirepass', PASSWORD],
        pingArgs: ['-a', PASSWORD, '--no-auth-warning'],
      });
      await cli(server.port, [
        '-a',
        PASSWORD,
        '--no-auth-warning',
        'acl',
        'setuser',
        'agent',
        'on',
        `>${AGENT_PASSWORD}`,
        '~baldur:*',
        '&baldur:*',
        '+@all',
      ]);
    });

    afterAll(async () => {
      await server?.stop();
    });

    it('authenticates with the environment’s user and password, from the configuration', async () => {
      const { config } = loadConfig({
        files: false,
        env: {
          BALDUR_REDIS_URL: `redis://127.0.0.1:${server.port}/0`,
          BALDUR_REDIS_USERNAME: 'agent',
          BALDUR_REDIS_PASSWORD: AGENT_PASSWORD,
        },
      });
      const store = createStore(config)!;
      try {
        expect(store).toBeInstanceOf(ResilientStore);
        const version = await store.set('k', 'authenticated');
        expect(await store.get('k')).toEqual({ value: 'authenticated', version });
        const received: string[] = [];
        const subscription = await store.subscribe('ch', m => received.push(m));
        await store.publish('ch', 'hello');
        await new Promise(resolve => setTimeout(resolve, 100));
        expect(received).toEqual(['hello']);
        await subscription.unsubscribe();
      } finally {
        await store.close();
      }
    });

    it('reports a wrong password as an outage without repeating it', async () => {
      const store = new RedisStore({
        url: `redis://127.0.0.1:${server.port}/0`,
        credentials: { username: 'agent', password: 'not-the-password' },
        keyPrefix: 'baldur',
        timeoutMs: 1_000,
      });
      try {
        const error: unknown = await store.get('k').catch((e: unknown) => e);
        expect(error).toMatchObject({ name: 'StoreError', reason: 'unavailable' });
        expect((error as Error).message).toMatch(/WRONGPASS|invalid username-password/);
        expect((error as Error).message).not.toContain('not-the-password');
      } finally {
        await store.close();
      }
    });
  });
});
