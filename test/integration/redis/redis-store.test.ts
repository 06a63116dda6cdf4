import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isInternal } from '../../../instrumentations/shared/internal';
import { isStoreError } from '../../../src/core/store-errors';
import { gcraTake } from '../../../src/store/gcra-take';
import { RedisStore } from '../../../src/store/redis/redis-store';
import { ResilientStore } from '../../../src/store/resilient-store';
import { describeStoreConformance } from '../../conformance/store-conformance';
import { SERVICES, serviceAvailable } from '../../support/services';
import { deleteKeys, sleep } from './servers';

const URL = `redis://${SERVICES.redis.host}:${SERVICES.redis.port}/0`;
const prefix = (): string => `baldurtest_${randomBytes(4).toString('hex')}`;

// Gated in an async suite (no top-level await: test files compile as CommonJS).
describe('Redis store', async () => {
  const hasRedis = await serviceAvailable('redis');

  describe.runIf(hasRedis)('RedisStore on the shared Redis', () => {
    describeStoreConformance('redis (standalone, two clients)', () => {
      const keyPrefix = prefix();
      const stores = [0, 1].map(() => new RedisStore({ url: URL, keyPrefix, timeoutMs: 2_000 }));
      return Promise.resolve({
        stores,
        elapse: sleep,
        close: async () => {
          await deleteKeys(URL, `${keyPrefix}:*`);
          await Promise.all(stores.map(store => store.close()));
        },
      });
    });

    describeStoreConformance('redis through the resilient decorator (two clients)', () => {
      const keyPrefix = prefix();
      const stores = [0, 1].map(
        () =>
          new ResilientStore(new RedisStore({ url: URL, keyPrefix, timeoutMs: 2_000 }), {
            timeoutMs: 2_000,
          }),
      );
      return Promise.resolve({
        stores,
        elapse: sleep,
        close: async () => {
          await deleteKeys(URL, `${keyPrefix}:*`);
          await Promise.all(stores.map(store => store.close()));
        },
      });
    });

    describe('details', () => {
      const keyPrefix = prefix();
      let store: RedisStore;

      beforeAll(() => {
        store = new RedisStore({ url: URL, keyPrefix, timeoutMs: 2_000 });
      });

      afterAll(async () => {
        await deleteKeys(URL, `${keyPrefix}:*`);
        await store.close();
      });

      it('takes permits in Lua exactly as gcraTake does, rounding included', async () => {
        // Server time is replaced by a given "now" so the script and the TypeScript see the same inputs.
        const request = fc.record({
          requested: fc.integer({ min: 1, max: 20 }),
          limit: fc.integer({ min: 1, max: 1_000 }),
          perMs: fc.constantFrom(1, 7, 100, 1_000, 3_000, 60_000, 86_400_000),
          burst: fc.integer({ min: 1, max: 50 }),
        });
        let run = 0;
        await fc.assert(
          fc.asyncProperty(
            fc.array(fc.tuple(request, fc.double({ min: 0, max: 5_000, noNaN: true })), {
              minLength: 1,
              maxLength: 12,
            }),
            fc.constantFrom(1_000, 1_767_225_600_123.456, 86_400_000 * 30.3),
            async (steps, startMs) => {
              const key = `gcra:${run++}`;
              let stored: number | undefined;
              let nowMs = startMs;
              for (const [req, advanceMs] of steps) {
                nowMs += advanceMs;
                const expected = gcraTake(stored ?? nowMs, nowMs, req);
                if (expected.granted > 0) stored = expected.theoreticalArrivalMs;
                const actual = await store.takePermitsAt(key, req, nowMs);
                expect(actual).toEqual({
                  granted: expected.granted,
                  retryAfterMs: expected.retryAfterMs,
                });
              }
            },
          ),
          { numRuns: 100 },
        );
      });

      it('keeps keys and collections with braces, percent signs and empty names apart', async () => {
        const names = ['', '%', '%25', '}', '%7D', '{a}', 'a}b{c', '{', '{}'];
        await Promise.all(names.map(name => store.set(name, `value of ${JSON.stringify(name)}`)));
        for (const name of names) {
          expect((await store.get(name))?.value).toBe(`value of ${JSON.stringify(name)}`);
        }
        await Promise.all(names.map(name => store.addRecord(name, 'r', name, { maxRecords: 5 })));
        for (const name of names) {
          expect((await store.getRecord(name, 'r'))?.value).toBe(name);
          expect(await store.countRecords(name)).toBe(1);
        }
      });

      it('reads counters, maxima and records written by another client of the same prefix', async () => {
        const other = new RedisStore({ url: URL, keyPrefix, timeoutMs: 2_000 });
        try {
          await store.increment('shared-counter', 2.5, 60_000);
          expect((await other.increment('shared-counter', 0.25, 60_000)).value).toBe(2.75);
          expect(await other.raise('shared-max', Infinity, 60_000)).toBe(Infinity);
        } finally {
          await other.close();
        }
      });

      it('marks its connections as the agent’s own (never policed or instrumented)', async () => {
        await store.get('anything');
        const internals = store as unknown as { client: object; pubsub: { subscriber?: object } };
        expect(isInternal(internals.client)).toBe(true);
        const subscription = await store.subscribe('marked', () => undefined);
        expect(isInternal(internals.pubsub.subscriber)).toBe(true);
        await subscription.unsubscribe();
      });

      it('keeps other prefixes apart', async () => {
        const other = new RedisStore({ url: URL, keyPrefix: prefix(), timeoutMs: 2_000 });
        try {
          await store.set('same-key', 'mine');
          expect(await other.get('same-key')).toBeUndefined();
        } finally {
          await other.close();
        }
      });

      it('rejects only with StoreErrors, and with "closed" once closed', async () => {
        const closing = new RedisStore({ url: URL, keyPrefix, timeoutMs: 2_000 });
        await closing.get('x');
        await closing.close();
        const error: unknown = await closing.get('x').catch((e: unknown) => e);
        expect(isStoreError(error)).toBe(true);
        expect(error).toMatchObject({ reason: 'closed', store: 'redis', operation: 'get' });
        const refused = new RedisStore({ url: 'redis://127.0.0.1:1/0', keyPrefix, timeoutMs: 500 });
        const unreachable: unknown = await refused.get('x').catch((e: unknown) => e);
        expect(unreachable).toMatchObject({ reason: 'unavailable', store: 'redis' });
        await refused.close();
      });
    });
  });
});
