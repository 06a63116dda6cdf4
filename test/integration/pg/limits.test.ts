import { afterEach, describe, expect, it } from 'vitest';
import { serviceAvailable } from '../../support/services';
import { Driver, Rig, testPolicies, until } from './harness';

// Gated in an async suite: test files compile as CommonJS (no top-level await).
describe('pg instrumentation', async () => {
  const hasPostgres = await serviceAvailable('postgres');

  const TIMED_OUT = {
    ok: false,
    error: { name: 'TimeoutError', code: 'BALDUR_TIMEOUT', baldur: true },
  };

  /**
   * Timeouts and bulkheads on a real pg Pool. A timed-out query is stopped on
   * the server too (its connection is ended, the server aborts it), and a
   * timed-out checkout leaks no pool slot: the connection being opened is
   * dropped, and a client handed over late goes straight back to the pool.
   */
  describe.runIf(hasPostgres).each(['apps/pg-driver.cjs', 'apps/pg-driver.mjs'])(
    'pg limits (%s)',
    app => {
      let rig: Rig | undefined;
      let driver: Driver | undefined;

      afterEach(async () => {
        await driver?.stop();
        await rig?.stop();
        driver = rig = undefined;
      });

      async function running(marker: string): Promise<number> {
        const { rows } = await rig!.sql(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1 AND pid <> pg_backend_pid()`,
          [`%${marker}%`],
        );
        return rows[0].n as number;
      }

      it('cuts a slow query through Pool.query and through a checked-out client, and cancels it on the server', async () => {
        rig = Rig.withDefaults(testPolicies({ timeout: '300ms' }));
        const marker = rig.name('sleep');
        driver = await Driver.start(app, rig, { pool: { max: 2 } });

        expect(await driver.poolQuery(`SELECT pg_sleep(30) /* ${marker} pool */`)).toMatchObject(
          TIMED_OUT,
        );
        await until(async () => (await running(`${marker} pool`)) === 0);
        expect(await driver.poolQuery('SELECT 1 AS one')).toMatchObject({
          ok: true,
          value: { rows: [{ one: 1 }] },
        });

        expect(await driver.call({ op: 'connect', name: 'c' })).toMatchObject({ ok: true });
        expect(
          await driver.clientQuery('c', `SELECT pg_sleep(30) /* ${marker} client */`, 'callback'),
        ).toMatchObject({
          ...TIMED_OUT,
          returned: 'undefined',
        });
        await until(async () => (await running(`${marker} client`)) === 0);
        // The statement was cancelled, not the connection: the client goes on working.
        expect(await driver.clientQuery('c', 'SELECT 3 AS three')).toMatchObject({
          ok: true,
          value: { rows: [{ three: 3 }] },
        });
        await driver.call({ op: 'release', name: 'c' });
        expect(await driver.poolQuery('SELECT 2 AS two', 'callback')).toMatchObject({
          ok: true,
          value: { rows: [{ two: 2 }] },
        });
        const stats = await driver.call({ op: 'pool-stats' });
        expect(stats).toMatchObject({ waiting: 0 });
        expect(stats.idle).toBe(stats.total);
      });

      it('cuts a checkout that cannot connect (blackholed server) and leaks no pool slot', async () => {
        rig = Rig.withDefaults(
          testPolicies({ timeout: '1s', circuitBreaker: { failureThreshold: 10 } }),
        );
        const proxy = await rig.proxy();
        await proxy.setMode('blackhole');
        driver = await Driver.start(app, rig, { port: proxy.address.port, pool: { max: 2 } });

        expect(await driver.call({ op: 'connect', name: 'a', form: 'promise' })).toMatchObject(
          TIMED_OUT,
        );
        expect(await driver.call({ op: 'connect', name: 'b', form: 'callback' })).toMatchObject({
          ...TIMED_OUT,
          returned: 'undefined',
        });
        expect(await driver.poolQuery('SELECT 1')).toMatchObject(TIMED_OUT);
        await until(async () => (await driver!.call({ op: 'pool-stats' })).total === 0);

        await proxy.setMode('pass');
        expect(await driver.poolQuery('SELECT 1 AS one')).toMatchObject({
          ok: true,
          value: { rows: [{ one: 1 }] },
        });
        expect(await driver.call({ op: 'pool-stats' })).toMatchObject({
          total: 1,
          idle: 1,
          waiting: 0,
        });
      });

      it('closes the connection of a timed-out statement the server cannot be asked to cancel', async () => {
        rig = Rig.withDefaults(testPolicies({ timeout: '300ms' }));
        const proxy = await rig.proxy();
        driver = await Driver.start(app, rig, { port: proxy.address.port, pool: { max: 1 } });
        expect(await driver.poolQuery('SELECT 1')).toMatchObject({ ok: true });
        // The pool's connection keeps working; the cancel request's new connection is never answered.
        await proxy.setMode('blackhole');
        expect(
          await driver.poolQuery(`SELECT pg_sleep(2) /* ${rig.name('uncancellable')} */`),
        ).toMatchObject(TIMED_OUT);
        await until(async () => (await driver!.call({ op: 'pool-stats' })).total === 0);
        await proxy.setMode('pass');
        expect(await driver.poolQuery('SELECT 1 AS one')).toMatchObject({
          ok: true,
          value: { rows: [{ one: 1 }] },
        });
      });

      it('cuts a checkout waiting for a busy pool, and the pool gets its client back', async () => {
        rig = Rig.withDefaults(testPolicies({ timeout: '300ms' }));
        driver = await Driver.start(app, rig, { pool: { max: 1 } });
        expect(await driver.call({ op: 'connect', name: 'holder' })).toMatchObject({ ok: true });
        expect(await driver.call({ op: 'connect', name: 'waiter' })).toMatchObject(TIMED_OUT);
        expect(await driver.poolQuery('SELECT 1')).toMatchObject(TIMED_OUT);
        await driver.call({ op: 'release', name: 'holder' });
        await until(async () => (await driver!.call({ op: 'pool-stats' })).idle === 1);
        expect(await driver.call({ op: 'pool-stats' })).toMatchObject({
          total: 1,
          idle: 1,
          waiting: 0,
        });
        expect(await driver.poolQuery('SELECT 1 AS one')).toMatchObject({
          ok: true,
          value: { rows: [{ one: 1 }] },
        });
      });

      it('a bulkhead caps concurrent queries and rejects the overflow with its typed error', async () => {
        rig = Rig.withDefaults(testPolicies({ bulkhead: { maxConcurrent: 2, maxQueue: 0 } }));
        driver = await Driver.start(app, rig, { pool: { max: 10 } });
        const batch = await driver.call({
          op: 'many',
          count: 5,
          each: { op: 'query', via: 'pool', sql: 'SELECT pg_sleep(0.2)', form: 'promise' },
        });
        const outcomes = (
          batch.results as { ok: boolean; error?: { code: string; baldur: boolean } }[]
        ).map(r => (r.ok ? 'ok' : `${r.error!.code}:${r.error!.baldur}`));
        expect(outcomes.filter(o => o === 'ok')).toHaveLength(2);
        expect(outcomes.filter(o => o === 'BALDUR_BULKHEAD_FULL:true')).toHaveLength(3);
        // Slots are given back: the next calls get through.
        expect(await driver.poolQuery('SELECT 1 AS one', 'callback')).toMatchObject({ ok: true });
      });
    },
  );
});
