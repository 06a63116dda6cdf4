import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../../src/core/store-errors';
import type { StateStore } from '../../../src/core/store';
import { MySqlStore } from '../../../src/store/sql/mysql/mysql-store';
import { PostgresStore } from '../../../src/store/sql/postgres/postgres-store';
import type { SqlStore } from '../../../src/store/sql/sql-store';
import { FaultProxy } from '../../support/fault-proxy';
import { SERVICES, serviceAvailable } from '../../support/services';
import { PrivatePostgres } from './private-postgres';
import { PlainSql, uniquePrefix } from './support';

/** Bounded waits only: these tests never assert how long anything took. */
async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** Settle `promise` or fail the test if it hangs (the outage contract: calls never hang). */
async function settles<T>(
  promise: Promise<T>,
  timeoutMs = 15_000,
): Promise<{ value?: T; error?: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`a store call hung for ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([
      promise.then(
        value => ({ value }),
        (error: unknown) => ({ error }),
      ),
      hung,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Concurrent loops of mixed store calls, counting typed failures and anything else. */
class Load {
  successes = 0;
  readonly failures: StoreError[] = [];
  readonly untyped: unknown[] = [];
  readonly failureMs: number[] = [];
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(store: StateStore, concurrency: number) {
    this.loops = Array.from({ length: concurrency }, (_, i) => this.loop(store, i));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async loop(store: StateStore, worker: number): Promise<void> {
    for (let n = 0; this.running; n++) {
      const key = `load:${worker}:${n % 10}`;
      const started = Date.now();
      try {
        switch (n % 5) {
          case 0:
            await store.set(key, `value ${n}`, { ttlMs: 60_000 });
            break;
          case 1:
            await store.get(key);
            break;
          case 2:
            await store.increment(`load:counter:${worker}`, 1, 60_000);
            break;
          case 3:
            await store.takePermits('load:bucket', {
              requested: 5,
              limit: 1_000_000,
              perMs: 1_000,
              burst: 1_000_000,
            });
            break;
          default:
            await store.addRecord('load', `${worker}-${n % 20}`, 'x', { maxRecords: 50 });
        }
        this.successes++;
      } catch (error) {
        if (error instanceof StoreError) this.failures.push(error);
        else this.untyped.push(error);
        this.failureMs.push(Date.now() - started);
        await sleep(10);
      }
    }
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

// Gated in an async suite (no top-level await: test files compile as CommonJS).
describe('SQL store outages', async () => {
  const privateReason = PrivatePostgres.unavailableReason();
  if (privateReason !== undefined) {
    if (process.env.CI === 'true')
      throw new Error(`cannot start a private PostgreSQL: ${privateReason}`);
    console.warn(`[skip] private PostgreSQL outage test: ${privateReason}`);
  }
  const hasMysql = await serviceAvailable('mysql');

  describe.runIf(privateReason === undefined)(
    'PostgreSQL: a private server stopped and restarted under load',
    () => {
      let server: PrivatePostgres | undefined;
      const stores: SqlStore[] = [];

      afterAll(async () => {
        await Promise.all(stores.map(store => store.close()));
        await server?.destroy();
      });

      it('fails fast with typed errors while down, and resumes (calls and pub/sub) after the restart', async () => {
        server = await PrivatePostgres.create();
        const options = {
          dsn: server.dsn,
          keyPrefix: 'outage',
          connectTimeoutMs: 1_000,
          statementTimeoutMs: 2_000,
          sweepIntervalMs: 0,
        };
        const subscriber = new PostgresStore(options);
        const worker = new PostgresStore(options);
        stores.push(subscriber, worker);
        await Promise.all([subscriber.start(), worker.start()]);
        await subscriber.set('durable', 'written before the outage');
        const received: string[] = [];
        await subscriber.subscribe('events', message => received.push(message));
        await worker.publish('events', 'before');
        await waitUntil(() => received.includes('before'), 'the first message arrived');

        const load = new Load(worker, 8);
        await waitUntil(() => load.successes > 100, 'the load is running');

        await server.stop('immediate');
        const failedBefore = load.failures.length;
        await waitUntil(
          () => load.failures.length > failedBefore + 20,
          'calls fail during the outage',
        );
        const during = await settles(subscriber.get('durable'));
        expect(during.error).toBeInstanceOf(StoreError);
        expect(['unavailable', 'timeout']).toContain((during.error as StoreError).reason);
        const publishDuring = await settles(worker.publish('events', 'lost'));
        expect(publishDuring.error).toBeInstanceOf(StoreError);

        await server.start();
        await waitUntil(
          async () => (await settles(subscriber.get('durable'))).value !== undefined,
          'reads work again after the restart',
        );
        expect(await subscriber.get('durable')).toMatchObject({
          value: 'written before the outage',
        });
        const succeededAfter = load.successes;
        await waitUntil(() => load.successes > succeededAfter + 100, 'the load recovers');
        // The LISTEN connection comes back by itself; the subscription made before the outage still works.
        await waitUntil(async () => {
          await settles(worker.publish('events', 'after'));
          return received.includes('after');
        }, 'a message published after the restart arrived');
        expect(subscriber.listenerConnects).toBeGreaterThanOrEqual(2);

        await load.stop();
        expect(load.untyped).toEqual([]);
        for (const failure of load.failures)
          expect(['unavailable', 'timeout']).toContain(failure.reason);
        console.info(
          `[outage] PostgreSQL: ${load.failures.length} typed failures, median ${median(load.failureMs)} ms each; ${load.successes} successes`,
        );
      });
    },
  );

  describe.runIf(hasMysql)(
    'MySQL: connections cut, refused and black-holed under load (fault proxy)',
    () => {
      let proxy: FaultProxy;
      const prefix = uniquePrefix('outage');
      const stores: SqlStore[] = [];

      afterAll(async () => {
        await Promise.all(stores.map(store => store.close()));
        await proxy?.stop();
        const sql = PlainSql.open('mysql');
        await sql.dropPrefix(prefix);
        await sql.close();
      });

      it('fails fast with typed errors while unreachable, and resumes (calls and polling) after', async () => {
        proxy = await new FaultProxy({
          targetHost: SERVICES.mysql.host,
          targetPort: SERVICES.mysql.port,
        }).start();
        const options = {
          dsn: `mysql://root@127.0.0.1:${proxy.address.port}/test`,
          keyPrefix: prefix,
          connectTimeoutMs: 1_000,
          statementTimeoutMs: 2_000,
          sweepIntervalMs: 0,
          pollIntervalMs: 50,
        };
        const subscriber = new MySqlStore(options);
        const worker = new MySqlStore(options);
        stores.push(subscriber, worker);
        await Promise.all([subscriber.start(), worker.start()]);
        const received: string[] = [];
        await subscriber.subscribe('events', message => received.push(message));
        await worker.publish('events', 'before');
        await waitUntil(() => received.includes('before'), 'the first message arrived');

        const load = new Load(worker, 8);
        await waitUntil(() => load.successes > 100, 'the load is running');

        // Stop listening and cut the open connections (closing the listener waits for them).
        const refusing = proxy.setMode('refuse');
        proxy.dropAll();
        await refusing;
        let failed = load.failures.length;
        await waitUntil(
          () => load.failures.length > failed + 20,
          'calls fail while connections are refused',
        );
        const refused = await settles(subscriber.get('k'));
        expect(refused.error).toMatchObject({ reason: 'unavailable' });

        await proxy.setMode('blackhole');
        failed = load.failures.length;
        await waitUntil(
          () => load.failures.length > failed + 8,
          'calls time out while the server is silent',
        );
        const silent = await settles(subscriber.get('k'));
        expect(silent.error).toBeInstanceOf(StoreError);
        expect(['timeout', 'unavailable']).toContain((silent.error as StoreError).reason);

        await proxy.setMode('pass');
        const succeeded = load.successes;
        await waitUntil(() => load.successes > succeeded + 100, 'the load recovers');
        await waitUntil(async () => {
          await settles(worker.publish('events', 'after'));
          return received.includes('after');
        }, 'polling delivers again');
        await load.stop();
        expect(load.untyped).toEqual([]);
        for (const failure of load.failures)
          expect(['unavailable', 'timeout']).toContain(failure.reason);
        console.info(
          `[outage] MySQL: ${load.failures.length} typed failures, median ${median(load.failureMs)} ms each; ${load.successes} successes`,
        );
      });
    },
  );
});
