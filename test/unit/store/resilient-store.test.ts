import { describe, expect, it } from 'vitest';
import { DEAD_LETTER_COLLECTION } from '../../../src/core/policies/dead-letter/dead-letter-queue';
import type { StateStore } from '../../../src/core/store';
import { StoreError, isStoreError } from '../../../src/core/store-errors';
import { createLogger } from '../../../src/log';
import { MemoryStore } from '../../../src/store/memory/memory-store';
import { PROBE_KEY, ResilientStore } from '../../../src/store/resilient-store';
import { describeStoreConformance } from '../../conformance/store-conformance';
import { FakeClock, flushPromises } from '../../support/fake-clock';

describeStoreConformance('memory through the resilient decorator', () => {
  const clock = new FakeClock();
  const memory = new MemoryStore({ clock });
  const store = new ResilientStore(memory, { clock, timeoutMs: 250 });
  return Promise.resolve({
    stores: [store, store],
    elapse: async ms => clock.advanceAsync(ms),
    close: () => store.close(),
  });
});

type Mode = 'up' | 'down' | 'hang' | 'refuse' | 'throw';

/** A memory store whose availability a test switches; counts the calls that reached it. */
function flaky(clock: FakeClock): {
  store: StateStore;
  memory: MemoryStore;
  mode: { current: Mode };
  calls: string[];
} {
  const memory = new MemoryStore({ clock });
  const mode = { current: 'up' as Mode };
  const calls: string[] = [];
  const store = new Proxy(memory, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function' || property === 'close') return value;
      return (...args: unknown[]) => {
        calls.push(`${String(property)}:${String(args[0])}`);
        switch (mode.current) {
          case 'up':
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          case 'down':
            return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6379'));
          case 'hang':
            return new Promise(() => undefined);
          case 'refuse':
            return Promise.reject(
              new StoreError(
                'redis',
                String(property),
                'failed',
                'WRONGTYPE Operation against a key',
              ),
            );
          case 'throw':
            throw new TypeError('a bug in the backend');
        }
      };
    },
  });
  return { store, memory, mode, calls };
}

function setup(options: { outbox?: { maxEntries: number } } = {}) {
  const clock = new FakeClock();
  const lines: string[] = [];
  const logger = createLogger('info', line => lines.push(line));
  const backend = flaky(clock);
  const store = new ResilientStore(backend.store, {
    clock,
    logger,
    timeoutMs: 100,
    random: () => 0,
    description: 'redis://test:6379/0',
    ...(options.outbox === undefined ? {} : { outbox: options.outbox }),
  });
  const changes: boolean[] = [];
  store.onHealthChange(change => changes.push(change.available));
  return {
    clock,
    lines,
    store,
    changes,
    memory: backend.memory,
    mode: backend.mode,
    calls: backend.calls,
  };
}

async function rejection(promise: Promise<unknown>): Promise<StoreError> {
  try {
    await promise;
  } catch (error) {
    expect(isStoreError(error)).toBe(true);
    return error as StoreError;
  }
  throw new Error('expected a rejection');
}

/** Three outage failures: the breaker opens. */
async function takeDown(s: ReturnType<typeof setup>): Promise<void> {
  s.mode.current = 'down';
  for (let i = 0; i < 3; i++) await rejection(s.store.get('k'));
  expect(s.store.available).toBe(false);
}

describe('ResilientStore', () => {
  it('passes results through while the store is up', async () => {
    const s = setup();
    const version = await s.store.set('k', 'v');
    expect(await s.store.get('k')).toEqual({ value: 'v', version });
    expect(s.store.health()).toMatchObject({ kind: 'memory', available: true, breaker: 'closed' });
  });

  it('fails a call that does not answer within its budget, never earlier', async () => {
    const s = setup();
    s.mode.current = 'hang';
    let settled: unknown;
    const call = s.store.get('k').catch((error: unknown) => (settled = error));
    await s.clock.advanceAsync(99);
    expect(settled).toBeUndefined();
    await s.clock.advanceAsync(1);
    await call;
    expect(settled).toBeInstanceOf(StoreError);
    expect(settled).toMatchObject({ reason: 'timeout', operation: 'get', unavailable: true });
    expect((settled as Error).message).toBe('state store (memory) get: no answer within 100 ms');
  });

  it('gives listings and counts four budgets', async () => {
    const s = setup();
    s.mode.current = 'hang';
    let settled: unknown;
    const call = s.store
      .listRecords('c', { limit: 10 })
      .catch((error: unknown) => (settled = error));
    await s.clock.advanceAsync(399);
    expect(settled).toBeUndefined();
    await s.clock.advanceAsync(1);
    await call;
    expect(settled).toMatchObject({ reason: 'timeout' });
  });

  it('types every failure: connection errors, synchronous throws, refusals', async () => {
    const s = setup();
    s.mode.current = 'down';
    expect(await rejection(s.store.get('k'))).toMatchObject({
      reason: 'unavailable',
      store: 'memory',
    });
    s.mode.current = 'throw';
    expect(await rejection(s.store.set('k', 'v'))).toMatchObject({
      reason: 'unavailable',
      message: 'state store (memory) set: a bug in the backend',
    });
    s.mode.current = 'refuse';
    expect(await rejection(s.store.increment('k', 1, 1000))).toMatchObject({
      reason: 'failed',
      unavailable: false,
    });
  });

  it('opens after three outage failures: then fails at once without reaching the store', async () => {
    const s = setup();
    await takeDown(s);
    const reached = s.calls.length;
    const error = await rejection(s.store.set('k', 'v'));
    expect(error.reason).toBe('circuit_open');
    expect(error.retryAfterMs).toBeGreaterThan(0);
    expect(s.calls.length).toBe(reached);
    expect(s.changes).toEqual([false]);
    expect(s.lines.filter(l => l.includes('unavailable'))).toEqual([
      '[baldur] warn: state store (redis://test:6379/0) unavailable (get: connect ECONNREFUSED 127.0.0.1:6379): shared state degrades to local decisions, dead letters are buffered locally; probing every 1000 ms',
    ]);
  });

  it('does not open on errors the store answered with', async () => {
    const s = setup();
    s.mode.current = 'refuse';
    for (let i = 0; i < 10; i++) await rejection(s.store.get('k'));
    expect(s.store.available).toBe(true);
  });

  it('probes in the background and recovers after one successful probe, logging each change once', async () => {
    const s = setup();
    await takeDown(s);
    await s.clock.advanceAsync(1_000);
    expect(s.calls.filter(c => c === `get:${PROBE_KEY}`)).toHaveLength(1);
    await s.clock.advanceAsync(3_000);
    expect(s.calls.filter(c => c === `get:${PROBE_KEY}`)).toHaveLength(4);
    expect(s.store.available).toBe(false);
    s.mode.current = 'up';
    await s.clock.advanceAsync(1_000);
    expect(s.store.available).toBe(true);
    expect(s.changes).toEqual([false, true]);
    expect(s.lines.filter(l => l.includes('recovered'))).toEqual([
      '[baldur] warn: state store (redis://test:6379/0) recovered after 5000 ms',
    ]);
    // Recovered: no more probes.
    await s.clock.advanceAsync(10_000);
    expect(s.calls.filter(c => c === `get:${PROBE_KEY}`)).toHaveLength(5);
    expect(s.clock.pendingTimers).toBe(0);
  });

  it('buffers dead letters while down and writes them, in order, on recovery', async () => {
    const s = setup();
    await takeDown(s);
    for (const id of ['a', 'b', 'c']) {
      await s.store.addRecord(DEAD_LETTER_COLLECTION, id, `entry ${id}`, { maxRecords: 100 });
    }
    expect(s.store.health().outbox).toEqual({ queued: 3, bytes: expect.any(Number), dropped: 0 });
    expect(s.store.queuedRecords().map(r => r.id)).toEqual(['a', 'b', 'c']);
    expect(await s.memory.countRecords(DEAD_LETTER_COLLECTION)).toBe(0);
    s.mode.current = 'up';
    await s.clock.advanceAsync(1_200);
    await flushPromises();
    const listed = await s.memory.listRecords(DEAD_LETTER_COLLECTION, { limit: 10 });
    expect(listed.map(r => r.id)).toEqual(['c', 'b', 'a']);
    expect(s.store.health().outbox.queued).toBe(0);
    expect(s.lines.some(l => l.includes('writing 3 buffered record(s)'))).toBe(true);
  });

  it('buffers a dead letter whose write failed with an outage, even before the breaker opens', async () => {
    const s = setup();
    s.mode.current = 'down';
    await s.store.addRecord(DEAD_LETTER_COLLECTION, 'x', 'v', { maxRecords: 10 });
    expect(s.store.health().outbox.queued).toBe(1);
    s.mode.current = 'up';
    await s.store.flush();
    expect(await s.memory.getRecord(DEAD_LETTER_COLLECTION, 'x')).toMatchObject({ value: 'v' });
  });

  it('keeps the outbox bounded, dropping the oldest, and says so once per outage', async () => {
    const s = setup({ outbox: { maxEntries: 3 } });
    await takeDown(s);
    for (let i = 0; i < 6; i++) {
      await s.store.addRecord(DEAD_LETTER_COLLECTION, `r${i}`, 'v', { maxRecords: 100 });
    }
    expect(s.store.queuedRecords().map(r => r.id)).toEqual(['r3', 'r4', 'r5']);
    expect(s.store.health().outbox).toMatchObject({ queued: 3, dropped: 3 });
    expect(s.lines.filter(l => l.includes('outbox full'))).toHaveLength(1);
  });

  it('lets a queued record age: its ttl runs while it waits, and an expired one is not written', async () => {
    const s = setup();
    await takeDown(s);
    await s.store.addRecord(DEAD_LETTER_COLLECTION, 'short', 'v', { maxRecords: 10, ttlMs: 500 });
    await s.store.addRecord(DEAD_LETTER_COLLECTION, 'long', 'v', { maxRecords: 10, ttlMs: 60_000 });
    s.mode.current = 'up';
    await s.clock.advanceAsync(1_200);
    await flushPromises();
    expect(await s.memory.getRecord(DEAD_LETTER_COLLECTION, 'short')).toBeUndefined();
    expect(await s.memory.getRecord(DEAD_LETTER_COLLECTION, 'long')).toBeDefined();
    await s.clock.advanceAsync(60_000 - 1_200 + 1);
    expect(await s.memory.getRecord(DEAD_LETTER_COLLECTION, 'long')).toBeUndefined();
  });

  it('does not buffer other collections: their writes fail while down', async () => {
    const s = setup();
    await takeDown(s);
    expect(
      await rejection(s.store.addRecord('instances', 'me', 'snapshot', { maxRecords: 10 })),
    ).toMatchObject({ reason: 'circuit_open' });
  });

  it('subscribes while down and goes live on recovery', async () => {
    const s = setup();
    await takeDown(s);
    const received: string[] = [];
    const subscription = await s.store.subscribe('ch', m => received.push(m));
    s.mode.current = 'up';
    await s.clock.advanceAsync(1_200);
    await flushPromises();
    await s.memory.publish('ch', 'after recovery');
    await flushPromises();
    expect(received).toEqual(['after recovery']);
    await subscription.unsubscribe();
    await s.memory.publish('ch', 'after unsubscribe');
    await flushPromises();
    expect(received).toEqual(['after recovery']);
  });

  it('records durations by operation and outcome', async () => {
    const s = setup();
    await s.store.get('k');
    s.mode.current = 'hang';
    const pending = s.store.get('k').catch(() => undefined);
    await s.clock.advanceAsync(100);
    await pending;
    s.mode.current = 'down';
    await rejection(s.store.get('k'));
    await rejection(s.store.get('k'));
    await rejection(s.store.get('k'));
    const stats = Object.fromEntries(
      s.store
        .operationStats()
        .map(stat => [`${stat.operation}:${stat.outcome}`, stat.histogram.count]),
    );
    expect(stats).toEqual({
      'get:success': 1,
      'get:timeout': 1,
      'get:failure': 2,
      'get:rejected': 1,
    });
  });

  it('on close, writes what is queued when it can and reports what it cannot', async () => {
    const s = setup();
    await takeDown(s);
    await s.store.addRecord(DEAD_LETTER_COLLECTION, 'lost-1', 'v', { maxRecords: 10 });
    const closing = s.store.close();
    await closing;
    expect(s.lines.some(l => l.includes('1 queued record(s) are lost (dead-letters/lost-1)'))).toBe(
      true,
    );
    expect(await rejection(s.store.get('k'))).toMatchObject({ reason: 'closed' });

    const up = setup();
    await takeDown(up);
    await up.store.addRecord(DEAD_LETTER_COLLECTION, 'kept', 'v', { maxRecords: 10 });
    up.mode.current = 'up';
    await up.store.close();
    expect(await up.memory.getRecord(DEAD_LETTER_COLLECTION, 'kept')).toMatchObject({ value: 'v' });
  });
});
