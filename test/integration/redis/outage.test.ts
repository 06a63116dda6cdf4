import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEAD_LETTER_COLLECTION } from '../../../src/core/policies/dead-letter/dead-letter-queue';
import type { Subscription } from '../../../src/core/store';
import { isStoreError } from '../../../src/core/store-errors';
import { createLogger } from '../../../src/log';
import { RedisStore } from '../../../src/store/redis/redis-store';
import { BULK_TIMEOUT_FACTOR, ResilientStore } from '../../../src/store/resilient-store';
import { serviceAvailable } from '../../support/services';
import { RedisServer, sleep, until } from './servers';

/**
 * The outage contract against a private redis-server (never the shared one):
 * killed, paused and restarted while calls keep coming. No call may take
 * longer than its budget (plus scheduling slack), nothing but a StoreError may
 * reach a caller, memory stays bounded, dead letters written during the outage
 * arrive after it, and recovery is noticed.
 */

const TIMEOUT_MS = 200;
/** Event-loop and scheduling slack on a loaded 2-core machine; a hung call would exceed it by far. */
const SLACK_MS = 1_500;
const WORKERS = 8;

interface Harness {
  readonly redis: RedisStore;
  readonly store: ResilientStore;
  readonly lines: string[];
  readonly changes: boolean[];
}

function harness(port: number, outboxEntries = 10_000): Harness {
  const lines: string[] = [];
  const logger = createLogger('info', line => lines.push(line));
  const redis = new RedisStore({
    url: `redis://127.0.0.1:${port}/0`,
    keyPrefix: 'outage',
    timeoutMs: TIMEOUT_MS,
    logger,
  });
  const store = new ResilientStore(redis, {
    timeoutMs: TIMEOUT_MS,
    logger,
    description: redis.describe(),
    outbox: { maxEntries: outboxEntries },
  });
  const changes: boolean[] = [];
  store.onHealthChange(change => changes.push(change.available));
  return { redis, store, lines, changes };
}

/** Calls of every kind from several workers until stopped; dead letters on the side. */
class Load {
  calls = 0;
  succeeded = 0;
  maxMs = 0;
  readonly reasons = new Map<string, number>();
  readonly foreign: unknown[] = [];
  readonly deadLetters: string[] = [];
  private stopped = false;
  private workers: Promise<void>[] = [];

  constructor(private readonly store: ResilientStore) {}

  start(): this {
    this.workers = Array.from({ length: WORKERS }, (_, w) => this.work(w));
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.workers);
  }

  /** Wait until `n` more calls succeeded (bounded). */
  async successes(n: number): Promise<void> {
    const target = this.succeeded + n;
    await until(() => this.succeeded >= target, `${n} more calls succeeded`);
  }

  private async work(worker: number): Promise<void> {
    for (let i = 0; !this.stopped; i++) {
      const key = `k${(worker * 7 + i) % 50}`;
      const operations: (() => Promise<unknown>)[] = [
        () => this.store.set(key, `v${i}`, { ttlMs: 60_000 }),
        () => this.store.get(key),
        () => this.store.increment(`counter:${key}`, 1, 60_000),
        () =>
          this.store.takePermits(`bucket:${worker}`, {
            requested: 1,
            limit: 1_000,
            perMs: 1_000,
            burst: 100,
          }),
        () => this.store.raise(`cooldown:${key}`, i, 60_000),
        () => this.store.set(`claim:${worker}:${i}`, 'x', { ifVersion: 0, ttlMs: 60_000 }),
        () => this.store.addRecord('instances', `w${worker}`, `snapshot ${i}`, { maxRecords: 50 }),
        () => this.store.listRecords('instances', { limit: 20 }),
        () => this.store.countRecords(DEAD_LETTER_COLLECTION),
        () => this.store.publish('events', `w${worker}:${i}`),
        () => {
          const id = `dl-${worker}-${i}`;
          this.deadLetters.push(id);
          return this.store.addRecord(DEAD_LETTER_COLLECTION, id, `failed call ${id}`, {
            maxRecords: 100_000,
            ttlMs: 600_000,
          });
        },
      ];
      const operation = operations[i % operations.length]!;
      const startMs = performance.now();
      try {
        await operation();
        this.succeeded++;
      } catch (error) {
        if (isStoreError(error)) {
          const reason = error.reason;
          this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
        } else {
          this.foreign.push(error);
        }
      }
      this.calls++;
      this.maxMs = Math.max(this.maxMs, performance.now() - startMs);
      // Yield to timers and I/O: calls that fail at once must not starve the event loop.
      await sleep(2);
    }
  }
}

/** ioredis must hold nothing back while disconnected (no offline queue, no replays). */
function queues(redis: RedisStore): { offline: number; inFlight: number } {
  const client = (
    redis as unknown as {
      client: { offlineQueue: { length: number }; commandQueue: { length: number } };
    }
  ).client;
  return { offline: client.offlineQueue.length, inFlight: client.commandQueue.length };
}

async function expectAllDeadLettersStored(port: number, ids: readonly string[]): Promise<void> {
  const reader = new RedisStore({
    url: `redis://127.0.0.1:${port}/0`,
    keyPrefix: 'outage',
    timeoutMs: 5_000,
  });
  try {
    const stored = new Set<string>();
    let beforeId: string | undefined;
    for (;;) {
      const page = await reader.listRecords(DEAD_LETTER_COLLECTION, {
        limit: 1_000,
        ...(beforeId === undefined ? {} : { beforeId }),
      });
      for (const record of page) stored.add(record.id);
      if (page.length < 1_000) break;
      beforeId = page[page.length - 1]!.id;
    }
    expect(ids.filter(id => !stored.has(id))).toEqual([]);
  } finally {
    await reader.close();
  }
}

async function expectMessageAfterRecovery(
  port: number,
  received: string[],
  message: string,
): Promise<void> {
  const publisher = new RedisStore({
    url: `redis://127.0.0.1:${port}/0`,
    keyPrefix: 'outage',
    timeoutMs: 5_000,
  });
  try {
    // The subscriber reconnects on its own backoff: publish until it hears one.
    await until(async () => {
      await publisher.publish('probe-channel', message);
      await sleep(50);
      return received.includes(message);
    }, 'the subscription made before the outage delivers again');
  } finally {
    await publisher.close();
  }
}

// Gated in an async suite (no top-level await: test files compile as CommonJS).
describe('Redis store', async () => {
  const hasRedis = await serviceAvailable('redis');

  describe.runIf(hasRedis)('Redis store outage contract (private redis-server)', () => {
    let server: RedisServer;

    beforeAll(async () => {
      server = await RedisServer.start();
    });

    afterAll(async () => {
      await server?.stop();
    });

    function checkContract(load: Load, h: Harness): void {
      expect(load.foreign).toEqual([]);
      expect(load.maxMs).toBeLessThan(TIMEOUT_MS * BULK_TIMEOUT_FACTOR + SLACK_MS);
      expect(queues(h.redis).offline).toBe(0);
      expect(h.changes).toEqual([false, true]);
      expect(h.lines.filter(l => l.includes(') unavailable'))).toHaveLength(1);
      expect(h.lines.filter(l => l.includes(') recovered'))).toHaveLength(1);
      expect(h.store.health()).toMatchObject({
        available: true,
        outbox: { queued: 0, dropped: 0 },
      });
    }

    it('survives a killed server: fails fast, buffers dead letters, recovers after a restart', async () => {
      const h = harness(server.port);
      const received: string[] = [];
      const subscription: Subscription = await h.store.subscribe('probe-channel', m =>
        received.push(m),
      );
      const load = new Load(h.store).start();
      let fromKill = 0;
      try {
        await load.successes(200);
        await server.kill();
        // The server keeps nothing across a restart: what counts is what was written from now on.
        fromKill = load.deadLetters.length;
        await until(() => !h.store.available, 'the store is seen as unavailable');
        const deadLettersBefore = load.deadLetters.length;
        await until(
          () => load.deadLetters.length >= deadLettersBefore + 30,
          'dead letters are written during the outage',
        );
        // While down, calls fail at once (open breaker), without a connection attempt each.
        expect(load.reasons.get('circuit_open') ?? 0).toBeGreaterThan(0);
        expect(h.store.health().outbox.queued).toBeGreaterThan(0);
        await server.launch();
        await until(() => h.store.available, 'recovery is detected', 10_000);
        await load.successes(200);
      } finally {
        await load.stop();
      }
      await until(() => h.store.health().outbox.queued === 0, 'the outbox is written');
      checkContract(load, h);
      await expectAllDeadLettersStored(server.port, load.deadLetters.slice(fromKill));
      await expectMessageAfterRecovery(server.port, received, 'after the restart');
      await subscription.unsubscribe();
      await h.store.close();
    });

    it('survives a paused server (SIGSTOP): calls time out within budget, then recover on SIGCONT', async () => {
      const h = harness(server.port);
      const received: string[] = [];
      const subscription = await h.store.subscribe('probe-channel', m => received.push(m));
      const load = new Load(h.store).start();
      try {
        await load.successes(200);
        server.pause();
        await until(() => !h.store.available, 'the store is seen as unavailable');
        const deadLettersBefore = load.deadLetters.length;
        await until(
          () => load.deadLetters.length >= deadLettersBefore + 30,
          'dead letters are written during the outage',
        );
        expect(load.reasons.get('timeout') ?? 0).toBeGreaterThan(0);
        server.resume();
        await until(() => h.store.available, 'recovery is detected', 10_000);
        await load.successes(200);
      } finally {
        server.resume();
        await load.stop();
      }
      await until(() => h.store.health().outbox.queued === 0, 'the outbox is written');
      checkContract(load, h);
      await expectAllDeadLettersStored(server.port, load.deadLetters);
      await expectMessageAfterRecovery(server.port, received, 'after the pause');
      await subscription.unsubscribe();
      await h.store.close();
    });

    it('survives restarts mid-load without losing a dead letter', async () => {
      const h = harness(server.port);
      const load = new Load(h.store).start();
      let fromLastKill = 0;
      try {
        await load.successes(100);
        for (let i = 0; i < 3; i++) {
          await server.kill();
          fromLastKill = load.deadLetters.length;
          await server.launch();
          await load.successes(100);
        }
      } finally {
        await load.stop();
      }
      await until(() => h.store.health().outbox.queued === 0, 'the outbox is written');
      expect(load.foreign).toEqual([]);
      expect(load.maxMs).toBeLessThan(TIMEOUT_MS * BULK_TIMEOUT_FACTOR + SLACK_MS);
      expect(queues(h.redis).offline).toBe(0);
      // Restarted without persistence: everything written since the last kill must be there,
      // including what was buffered while the server was down.
      expect(load.deadLetters.length - fromLastKill).toBeGreaterThan(5);
      await expectAllDeadLettersStored(server.port, load.deadLetters.slice(fromLastKill));
      await h.store.close();
    });

    it('keeps the outbox bounded during a long outage and writes the newest records after it', async () => {
      const h = harness(server.port, 50);
      await h.store.get('warm-up');
      await server.kill();
      try {
        const ids = Array.from({ length: 200 }, (_, i) => `bounded-${i}`);
        for (const id of ids) {
          await h.store.addRecord(DEAD_LETTER_COLLECTION, id, 'x'.repeat(1_000), {
            maxRecords: 100_000,
          });
        }
        expect(h.store.health().outbox).toMatchObject({ queued: 50, dropped: 150 });
        expect(h.lines.filter(l => l.includes('outbox full'))).toHaveLength(1);
        await server.launch();
        await until(() => h.store.available, 'recovery is detected', 10_000);
        await until(() => h.store.health().outbox.queued === 0, 'the outbox is written');
        await expectAllDeadLettersStored(server.port, ids.slice(-50));
      } finally {
        if (server.pid === undefined) await server.launch();
        await h.store.close();
      }
    });

    it('sends one command (one round trip) per operation', async () => {
      const h = harness(server.port);
      const redis = h.redis;
      const client = (
        redis as unknown as { client: { sendCommand: (...args: unknown[]) => unknown } }
      ).client;
      const send = client.sendCommand;
      let sent = 0;
      client.sendCommand = function (this: unknown, ...args: unknown[]) {
        sent++;
        return send.apply(this, args);
      };
      const commandCount = (): Promise<number> => Promise.resolve(sent);
      await redis.get('warm-up'); // connect, handshake
      await redis.set('load-scripts', 'x'); // first EVALSHA may fall back to EVAL once per script
      const operations: [string, () => Promise<unknown>][] = [
        ['get', () => redis.get('a')],
        ['set', () => redis.set('a', 'v', { ttlMs: 1_000, ifVersion: 0 })],
        ['delete', () => redis.delete('a')],
        ['increment', () => redis.increment('c', 1, 1_000)],
        ['raise', () => redis.raise('r', 5, 1_000)],
        [
          'takePermits',
          () => redis.takePermits('p', { requested: 1, limit: 10, perMs: 1_000, burst: 10 }),
        ],
        ['addRecord', () => redis.addRecord('col', 'id', 'v', { maxRecords: 10 })],
        ['getRecord', () => redis.getRecord('col', 'id')],
        ['updateRecord', () => redis.updateRecord('col', 'id', 'w')],
        ['listRecords', () => redis.listRecords('col', { limit: 10 })],
        ['countRecords', () => redis.countRecords('col')],
        ['removeRecord', () => redis.removeRecord('col', 'id')],
        ['publish', () => redis.publish('ch', 'm')],
      ];
      for (const [, operation] of operations) await operation(); // scripts cached on the server
      const counts: Record<string, number> = {};
      for (const [name, operation] of operations) {
        const before = await commandCount();
        await operation();
        counts[name] = (await commandCount()) - before;
      }
      expect(counts).toEqual(Object.fromEntries(operations.map(([name]) => [name, 1])));
      await h.store.close();
    });
  });
});
