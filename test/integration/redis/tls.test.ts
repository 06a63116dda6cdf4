import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../../src/store/redis/redis-store';
import { serviceAvailable } from '../../support/services';
import { RedisServer, freePort, makeCertificates, until } from './servers';

/**
 * `rediss://` against a private TLS-only redis-server with a self-signed CA.
 * The CA is handed over programmatically here; in production it comes from
 * the system store or `NODE_EXTRA_CA_CERTS` (read once at process start).
 */

// Gated in an async suite (no top-level await: test files compile as CommonJS).
describe('Redis store', async () => {
  const hasRedis = await serviceAvailable('redis');

  describe.runIf(hasRedis)('RedisStore over TLS (rediss://)', () => {
    let certs: Awaited<ReturnType<typeof makeCertificates>>;
    let server: RedisServer;
    let url: string;

    beforeAll(async () => {
      certs = await makeCertificates();
      const port = await freePort();
      server = await RedisServer.start({
        port,
        args: [
          '--port',
          '0',
          '--tls-port',
          String(port),
          '--tls-cert-file',
          certs.cert,
          '--tls-key-file',
          certs.key,
          '--tls-ca-cert-file',
          certs.ca,
          '--tls-auth-clients',
          'no',
        ],
        pingArgs: ['--tls', '--cacert', certs.ca],
      });
      url = `rediss://127.0.0.1:${port}/0`;
    });

    afterAll(async () => {
      await server?.stop();
      certs?.cleanup();
    });

    it('stores, reads and publishes over TLS with a trusted CA', async () => {
      const ca = readFileSync(certs.ca, 'utf8');
      const store = new RedisStore({ url, keyPrefix: 'tls', timeoutMs: 2_000, tls: { ca } });
      try {
        const version = await store.set('k', 'over tls', { ttlMs: 60_000 });
        expect(await store.get('k')).toEqual({ value: 'over tls', version });
        expect(
          (await store.takePermits('bucket', { requested: 2, limit: 5, perMs: 1_000, burst: 5 }))
            .granted,
        ).toBe(2);
        const received: string[] = [];
        const subscription = await store.subscribe('ch', m => received.push(m));
        await store.publish('ch', 'hello');
        await until(() => received.length === 1, 'the message arrives over TLS', 5_000);
        await subscription.unsubscribe();
      } finally {
        await store.close();
      }
    });

    it('refuses a server whose certificate it cannot verify, as an outage', async () => {
      const store = new RedisStore({ url, keyPrefix: 'tls', timeoutMs: 1_000 });
      try {
        const error: unknown = await store.get('k').catch((e: unknown) => e);
        expect(error).toMatchObject({ name: 'StoreError', reason: 'unavailable', store: 'redis' });
        expect((error as Error).message).toMatch(/certificate/i);
      } finally {
        await store.close();
      }
    });
  });
});
