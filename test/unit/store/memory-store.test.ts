import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../../src/store/memory/memory-store';
import { describeStoreConformance } from '../../conformance/store-conformance';
import { FakeClock } from '../../support/fake-clock';

describeStoreConformance('memory', () => {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock });
  return Promise.resolve({
    stores: [store, store],
    elapse: ms => {
      clock.advance(ms);
      return Promise.resolve();
    },
    close: () => store.close(),
  });
});

function setup(maxKeys?: number): { clock: FakeClock; store: MemoryStore } {
  const clock = new FakeClock();
  return {
    clock,
    store: new MemoryStore({ clock, ...(maxKeys === undefined ? {} : { maxKeys }) }),
  };
}

describe('MemoryStore key cap', () => {
  it('evicts the least recently written key beyond maxKeys', async () => {
    const { store } = setup(3);
    for (const key of ['a', 'b', 'c', 'd']) await store.set(key, key);
    expect(store.size).toBe(3);
    expect(await store.get('a')).toBeUndefined();
    expect((await store.get('b'))?.value).toBe('b');
    expect((await store.get('d'))?.value).toBe('d');
  });

  it('counts a read as a use: the key read last survives', async () => {
    const { store } = setup(3);
    for (const key of ['a', 'b', 'c']) await store.set(key, key);
    await store.get('a');
    await store.set('d', 'd');
    expect(await store.get('b')).toBeUndefined();
    expect((await store.get('a'))?.value).toBe('a');
    await store.set('e', 'e'); // c is now the least recently used
    expect(await store.get('c')).toBeUndefined();
    expect((await store.get('a'))?.value).toBe('a');
  });

  it('counts a rewrite as a use', async () => {
    const { store } = setup(2);
    await store.set('a', '1');
    await store.set('b', '1');
    await store.set('a', '2');
    await store.set('c', '1');
    expect(await store.get('b')).toBeUndefined();
    expect((await store.get('a'))?.value).toBe('2');
  });

  it('applies the cap to counters, raised values and permit buckets too', async () => {
    const { store } = setup(2);
    await store.increment('counter', 5, 60_000);
    await store.raise('cooldown', 100, 60_000);
    await store.takePermits('bucket', { requested: 1, limit: 1, perMs: 60_000, burst: 1 });
    expect(store.size).toBe(2);
    // The counter was evicted: it starts over.
    expect((await store.increment('counter', 1, 60_000)).value).toBe(1);
  });

  it('defaults to 100 000 keys', async () => {
    const { store } = setup();
    for (let i = 0; i < 100_001; i++) await store.set(`k${i}`, '');
    expect(store.size).toBe(100_000);
    expect(await store.get('k0')).toBeUndefined();
    expect(await store.get('k1')).toBeDefined();
  });
});

describe('MemoryStore expiry', () => {
  it('expires lazily: an expired key lingers until it is read', async () => {
    const { clock, store } = setup();
    await store.set('session', 'v', { ttlMs: 100 });
    await store.set('other', 'v');
    clock.advance(99);
    expect((await store.get('session'))?.value).toBe('v');
    clock.advance(1);
    expect(store.size).toBe(2);
    expect(await store.get('session')).toBeUndefined();
    expect(store.size).toBe(1);
  });

  it('sweeps expired keys that are never read again as writes go on', async () => {
    const { clock, store } = setup();
    for (let i = 0; i < 100; i++) await store.set(`old${i}`, 'v', { ttlMs: 10 });
    clock.advance(10);
    for (let i = 0; i < 1024; i++) await store.set(`new${i}`, 'v');
    expect(store.size).toBe(1024);
  });

  it('expires records lazily on read', async () => {
    const { clock, store } = setup();
    await store.addRecord('c', 'r', 'v', { maxRecords: 10, ttlMs: 50 });
    clock.advance(50);
    expect(await store.getRecord('c', 'r')).toBeUndefined();
    expect(await store.countRecords('c')).toBe(0);
  });
});

describe('MemoryStore permits (exact, on a fake clock)', () => {
  const request = { limit: 10, perMs: 1000, burst: 10 };

  it('refills one permit per interval and says exactly when the next one is due', async () => {
    const { clock, store } = setup();
    expect(await store.takePermits('k', { ...request, requested: 10 })).toEqual({
      granted: 10,
      retryAfterMs: 0,
    });
    expect(await store.takePermits('k', { ...request, requested: 1 })).toEqual({
      granted: 0,
      retryAfterMs: 100,
    });
    clock.advance(99);
    expect(await store.takePermits('k', { ...request, requested: 1 })).toEqual({
      granted: 0,
      retryAfterMs: 1,
    });
    clock.advance(1);
    expect((await store.takePermits('k', { ...request, requested: 5 })).granted).toBe(1);
    clock.advance(250);
    expect((await store.takePermits('k', { ...request, requested: 5 })).granted).toBe(2);
  });

  it('never grants more than the burst plus what the elapsed time refilled', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          limit: fc.integer({ min: 1, max: 20 }),
          burst: fc.integer({ min: 1, max: 20 }),
        }),
        fc.array(
          fc.record({
            waitMs: fc.integer({ min: 0, max: 400 }),
            requested: fc.integer({ min: 1, max: 8 }),
          }),
          { maxLength: 40 },
        ),
        async ({ limit, burst }, steps) => {
          const { clock, store } = setup();
          const perMs = 1000;
          let granted = 0;
          let elapsed = 0;
          for (const { waitMs, requested } of steps) {
            clock.advance(waitMs);
            elapsed += waitMs;
            const grant = await store.takePermits('k', { requested, limit, perMs, burst });
            expect(grant.granted).toBeLessThanOrEqual(requested);
            granted += grant.granted;
            expect(granted).toBeLessThanOrEqual(burst + Math.floor((elapsed * limit) / perMs));
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('MemoryStore publish / subscribe', () => {
  it('delivers asynchronously, so a publisher never re-enters its own handler', async () => {
    const { store } = setup();
    const received: string[] = [];
    await store.subscribe('ch', m => received.push(m));
    const published = store.publish('ch', 'hello');
    expect(received).toEqual([]);
    await published;
    await Promise.resolve();
    expect(received).toEqual(['hello']);
  });

  it('stops delivering after close', async () => {
    const { store } = setup();
    const received: string[] = [];
    await store.subscribe('ch', m => received.push(m));
    await store.close();
    await store.publish('ch', 'late');
    await new Promise(resolve => setImmediate(resolve));
    expect(received).toEqual([]);
  });
});

describe('MemoryStore bounds (property)', () => {
  type Op =
    | { kind: 'set'; key: number; ttlMs: number | undefined }
    | { kind: 'get'; key: number }
    | { kind: 'delete'; key: number }
    | { kind: 'increment'; key: number }
    | { kind: 'raise'; key: number; value: number }
    | { kind: 'permits'; key: number }
    | { kind: 'advance'; ms: number };

  const key = fc.integer({ min: 0, max: 15 });
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      kind: fc.constant('set' as const),
      key,
      ttlMs: fc.option(fc.integer({ min: 1, max: 200 }), { nil: undefined }),
    }),
    fc.record({ kind: fc.constant('get' as const), key }),
    fc.record({ kind: fc.constant('delete' as const), key }),
    fc.record({ kind: fc.constant('increment' as const), key }),
    fc.record({
      kind: fc.constant('raise' as const),
      key,
      value: fc.integer({ min: 0, max: 100 }),
    }),
    fc.record({ kind: fc.constant('permits' as const), key }),
    fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 300 }) }),
  );

  it('never holds more than maxKeys keys, and a key just written is readable', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.array(op, { maxLength: 80 }),
        async (maxKeys, ops) => {
          const { clock, store } = setup(maxKeys);
          for (const [i, o] of ops.entries()) {
            const name = o.kind === 'advance' ? '' : `key-${o.key}`;
            switch (o.kind) {
              case 'set': {
                await store.set(name, `v${i}`, o.ttlMs === undefined ? {} : { ttlMs: o.ttlMs });
                expect((await store.get(name))?.value).toBe(`v${i}`);
                break;
              }
              case 'get':
                await store.get(name);
                break;
              case 'delete':
                await store.delete(name);
                expect(await store.get(name)).toBeUndefined();
                break;
              case 'increment':
                await store.increment(name, 1, 100);
                break;
              case 'raise':
                expect(await store.raise(name, o.value, 100)).toBeGreaterThanOrEqual(o.value);
                break;
              case 'permits':
                await store.takePermits(name, { requested: 1, limit: 5, perMs: 100, burst: 2 });
                break;
              case 'advance':
                clock.advance(o.ms);
                break;
            }
            expect(store.size).toBeLessThanOrEqual(maxKeys);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
