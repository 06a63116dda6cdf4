import { afterEach, describe, expect, it } from 'vitest';
import { serviceAvailable } from '../../support/services';
import { Driver, Rig, testPolicies, until } from './harness';

// Gated in an async suite: test files compile as CommonJS (no top-level await).
describe('mysql2 instrumentation', async () => {
  const hasMysql = await serviceAvailable('mysql');

  const TIMED_OUT = {
    ok: false,
    error: { name: 'TimeoutError', code: 'BALDUR_TIMEOUT', baldur: true },
  };

  /**
   * Timeouts and bulkheads on real mysql2 pools and connections. A timed-out
   * statement is killed on the server (KILL QUERY) and its connection stays
   * usable; a timed-out checkout leaks no pool slot.
   */
  describe.runIf(hasMysql).each(['apps/mysql2-driver.cjs', 'apps/mysql2-driver.mjs'])(
    'mysql2 limits (%s)',
    app => {
      let rig: Rig | undefined;
      let driver: Driver | undefined;

      afterEach(async () => {
        await driver?.stop();
        await rig?.stop();
        driver = rig = undefined;
      });

      async function running(marker: string): Promise<number> {
        const rows = await rig!.sql(
          `SELECT count(*) AS n FROM information_schema.PROCESSLIST WHERE COMMAND = 'Query' AND INFO LIKE ? AND ID <> CONNECTION_ID()`,
          [`SELECT SLEEP(30) /* ${marker}%`],
        );
        return Number(rows[0].n);
      }

      it('cuts a slow statement through the pool and through a connection, and kills it on the server', async () => {
        rig = Rig.withDefaults(testPolicies({ timeout: '300ms' }));
        const marker = rig.name('sleep');
        driver = await Driver.start(app, rig, { pool: { connectionLimit: 2 } });

        expect(
          await driver.run('promisePool', `SELECT SLEEP(30) /* ${marker} pool */`, 'promise'),
        ).toMatchObject(TIMED_OUT);
        await until(async () => (await running(`${marker} pool`)) === 0);
        expect(await driver.run('pool', 'SELECT 1 AS one')).toMatchObject({
          ok: true,
          rows: [{ one: 1 }],
        });

        expect(await driver.call({ op: 'open', name: 'c', kind: 'standalone' })).toMatchObject({
          ok: true,
        });
        expect(
          await driver.run('c', `SELECT SLEEP(30) /* ${marker} conn */`, 'emitter'),
        ).toMatchObject({
          ...TIMED_OUT,
          events: ['error', 'end'],
          emitter: true,
        });
        await until(async () => (await running(`${marker} conn`)) === 0);
        // The statement was killed, not the connection: it goes on working.
        expect(await driver.run('c', 'SELECT 3 AS three')).toMatchObject({
          ok: true,
          rows: [{ three: 3 }],
        });
        const { pool } = await driver.call({ op: 'pool-stats' });
        expect(pool.free).toBe(pool.total);
      });

      it('closes the connection of a timed-out statement the server cannot be asked to kill', async () => {
        rig = Rig.withDefaults(testPolicies({ timeout: '300ms' }));
        const proxy = await rig.proxy();
        driver = await Driver.start(app, rig, {
          port: proxy.address.port,
          pool: { connectionLimit: 1 },
        });
        expect(await driver.run('pool', 'SELECT 1')).toMatchObject({ ok: true });
        // The pool's connection keeps working; the KILL QUERY connection is never answered.
        await proxy.setMode('blackhole');
        expect(
          await driver.run('pool', `SELECT SLEEP(2) /* ${rig.name('unkillable')} */`),
        ).toMatchObject(TIMED_OUT);
        await until(async () => (await driver!.call({ op: 'pool-stats' })).pool.total === 0);
        await proxy.setMode('pass');
        expect(await driver.run('pool', 'SELECT 1 AS one')).toMatchObject({
          ok: true,
          rows: [{ one: 1 }],
        });
      });

      it('cuts a checkout that cannot connect (blackholed server) and leaks no pool slot', async () => {
        rig = Rig.withDefaults(
          testPolicies({ timeout: '1s', circuitBreaker: { failureThreshold: 10 } }),
        );
        const proxy = await rig.proxy();
        await proxy.setMode('blackhole');
        driver = await Driver.start(app, rig, {
          port: proxy.address.port,
          pool: { connectionLimit: 2 },
        });

        expect(await driver.call({ op: 'open', name: 'a', kind: 'checkout' })).toMatchObject({
          ...TIMED_OUT,
          returned: 'undefined',
        });
        expect(await driver.call({ op: 'open', name: 'b', kind: 'promiseCheckout' })).toMatchObject(
          TIMED_OUT,
        );
        expect(await driver.run('pool', 'SELECT 1')).toMatchObject(TIMED_OUT);
        await until(async () => {
          const stats = await driver!.call({ op: 'pool-stats' });
          return stats.pool.total === 0 && stats.promisePool.total === 0;
        });

        await proxy.setMode('pass');
        expect(await driver.run('pool', 'SELECT 1 AS one')).toMatchObject({
          ok: true,
          rows: [{ one: 1 }],
        });
        expect(await driver.call({ op: 'pool-stats' })).toMatchObject({
          pool: { total: 1, free: 1, waiting: 0 },
        });
      });

      it('cuts a checkout waiting for a busy pool, and the pool gets its connection back', async () => {
        rig = Rig.withDefaults(testPolicies({ timeout: '300ms' }));
        driver = await Driver.start(app, rig, { pool: { connectionLimit: 1 } });
        expect(await driver.call({ op: 'open', name: 'holder', kind: 'checkout' })).toMatchObject({
          ok: true,
        });
        expect(await driver.call({ op: 'open', name: 'waiter', kind: 'checkout' })).toMatchObject(
          TIMED_OUT,
        );
        expect(
          await driver.run('pool', 'SELECT 1', 'callback', { method: 'execute' }),
        ).toMatchObject(TIMED_OUT);
        await driver.call({ op: 'release', name: 'holder' });
        await until(async () => (await driver!.call({ op: 'pool-stats' })).pool.free === 1);
        expect(await driver.call({ op: 'pool-stats' })).toMatchObject({
          pool: { total: 1, free: 1, waiting: 0 },
        });
        expect(await driver.run('pool', 'SELECT 1 AS one')).toMatchObject({
          ok: true,
          rows: [{ one: 1 }],
        });
      });

      it('a bulkhead caps concurrent statements and rejects the overflow with its typed error', async () => {
        rig = Rig.withDefaults(testPolicies({ bulkhead: { maxConcurrent: 2, maxQueue: 0 } }));
        driver = await Driver.start(app, rig, { pool: { connectionLimit: 10 } });
        const batch = await driver.call({
          op: 'many',
          count: 5,
          each: { op: 'run', via: 'promisePool', sql: 'SELECT SLEEP(0.2)', form: 'promise' },
        });
        const outcomes = (
          batch.results as { ok: boolean; error?: { code: string; baldur: boolean } }[]
        ).map(r => (r.ok ? 'ok' : `${r.error!.code}:${r.error!.baldur}`));
        expect(outcomes.filter(o => o === 'ok')).toHaveLength(2);
        expect(outcomes.filter(o => o === 'BALDUR_BULKHEAD_FULL:true')).toHaveLength(3);
        expect(await driver.run('pool', 'SELECT 1 AS one')).toMatchObject({ ok: true });
      });
    },
  );
});
