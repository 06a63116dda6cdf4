import { afterEach, describe, expect, it } from 'vitest';
import { serviceAvailable } from '../../support/services';
import { Driver, FAST_RETRY, Rig, testPolicies } from './harness';

// Gated in an async suite: test files compile as CommonJS (no top-level await).
describe('mysql2 instrumentation', async () => {
  const hasMysql = await serviceAvailable('mysql');

  /**
   * Retries only where they are safe (SPEC §4: SQL outside a transaction). The
   * statements call a function that kills its own connection the first time it
   * runs (error 1927, ER_CONNECTION_KILLED, which mysql2 has no name for; then the connection is gone) and counts its runs
   * in a non-transactional table: the count says how often the server ran it.
   */
  describe.runIf(hasMysql).each(['apps/mysql2-driver.cjs', 'apps/mysql2-driver.mjs'])(
    'mysql2 retries (%s)',
    app => {
      let rig: Rig | undefined;
      let driver: Driver | undefined;

      afterEach(async () => {
        await driver?.stop();
        await rig?.stop();
        driver = rig = undefined;
      });

      it('retries a read through the pool on a fresh connection (callback and promise APIs); never a write or a stream', async () => {
        rig = Rig.withDefaults(testPolicies({ retry: FAST_RETRY }));
        const callback = await rig.killFirstFunction('cb');
        const promise = await rig.killFirstFunction('promise');
        const execute = await rig.killFirstFunction('exec');
        const insert = await rig.killFirstFunction('insert');
        const stream = await rig.killFirstFunction('stream');
        const table = rig.name('rows');
        await rig.create(`CREATE TABLE ${table} (v INT)`, `DROP TABLE IF EXISTS ${table}`);
        driver = await Driver.start(app, rig);

        expect(await driver.run('pool', `SELECT ${callback.fn}() AS v`)).toMatchObject({
          ok: true,
          rows: [{ v: 2 }],
          returned: 'command',
        });
        expect(
          await driver.run('promisePool', `SELECT ${promise.fn}() AS v`, 'promise'),
        ).toMatchObject({ ok: true, rows: [{ v: 2 }] });
        expect(
          await driver.run('promisePool', `SELECT ${execute.fn}() AS v`, 'promise', {
            method: 'execute',
          }),
        ).toMatchObject({
          ok: true,
          rows: [{ v: 2 }],
        });
        expect([await callback.runs(), await promise.runs(), await execute.runs()]).toEqual([
          2, 2, 2,
        ]);
        expect(driver.events('retry.scheduled')).toHaveLength(3);

        const write = await driver.run('pool', `INSERT INTO ${table} (v) VALUES (${insert.fn}())`);
        expect(write).toMatchObject({ ok: false, error: { errno: 1927, baldur: false } });
        expect(await insert.runs()).toBe(1);
        expect(await rig.sql(`SELECT count(*) AS n FROM ${table}`)).toEqual([{ n: 0 }]);

        // Rows of an event-emitter query may already be with the application: never repeated.
        const streamed = await driver.run('pool', `SELECT ${stream.fn}() AS v`, 'emitter');
        expect(streamed).toMatchObject({
          ok: false,
          error: { errno: 1927 },
          events: ['fields:1', 'error', 'end'],
        });
        expect(await stream.runs()).toBe(1);
        expect(driver.events('retry.scheduled')).toHaveLength(3);
      });

      it('retries nothing inside a transaction, nor on a connection left inside one', async () => {
        rig = Rig.withDefaults(testPolicies({ retry: FAST_RETRY }));
        const inTransaction = await rig.killFirstFunction('tx');
        const leaked = await rig.killFirstFunction('leak');
        const table = rig.name('tx_rows');
        await rig.create(
          `CREATE TABLE ${table} (v INT) ENGINE=InnoDB`,
          `DROP TABLE IF EXISTS ${table}`,
        );
        driver = await Driver.start(app, rig, { pool: { connectionLimit: 1 } });

        expect(
          await driver.call({ op: 'open', name: 'tx', kind: 'promiseCheckout' }),
        ).toMatchObject({
          ok: true,
        });
        expect(await driver.call({ op: 'begin', name: 'tx' })).toMatchObject({ ok: true });
        expect(
          await driver.run('tx', `INSERT INTO ${table} (v) VALUES (1)`, 'promise'),
        ).toMatchObject({ ok: true });
        expect(
          await driver.run('tx', `SELECT ${inTransaction.fn}() AS v`, 'promise'),
        ).toMatchObject({
          ok: false,
          error: { errno: 1927, baldur: false },
        });
        expect(await inTransaction.runs()).toBe(1);
        expect(await rig.sql(`SELECT count(*) AS n FROM ${table}`)).toEqual([{ n: 0 }]);
        await driver.call({ op: 'release', name: 'tx' });

        // START TRANSACTION through beginTransaction(), then released without COMMIT/ROLLBACK.
        expect(await driver.call({ op: 'open', name: 'leak', kind: 'checkout' })).toMatchObject({
          ok: true,
        });
        expect(await driver.call({ op: 'begin', name: 'leak' })).toMatchObject({ ok: true });
        await driver.call({ op: 'release', name: 'leak' });
        expect(await driver.run('pool', `SELECT ${leaked.fn}() AS v`)).toMatchObject({
          ok: false,
          error: { errno: 1927, baldur: false },
        });
        expect(await leaked.runs()).toBe(1);
        expect(driver.events('retry.scheduled')).toEqual([]);
      });

      it('lets ROLLBACK through an open breaker, so no transaction is left open', async () => {
        rig = new Rig({
          defaults: testPolicies({
            circuitBreaker: { failureThreshold: 2, recoveryTimeout: '1m' },
          }),
          dependencies: [{ match: { system: 'mysql' }, name: 'db' }],
        });
        const table = rig.name('rollback_rows');
        await rig.create(
          `CREATE TABLE ${table} (v INT) ENGINE=InnoDB`,
          `DROP TABLE IF EXISTS ${table}`,
        );
        const proxy = await rig.proxy();
        driver = await Driver.start(app, rig, {
          port: proxy.address.port,
          pool: { connectionLimit: 2 },
        });

        expect(
          await driver.call({ op: 'open', name: 'tx', kind: 'promiseCheckout' }),
        ).toMatchObject({
          ok: true,
        });
        expect(await driver.call({ op: 'begin', name: 'tx' })).toMatchObject({ ok: true });
        expect(
          await driver.run('tx', `INSERT INTO ${table} (v) VALUES (1)`, 'promise'),
        ).toMatchObject({ ok: true });
        await proxy.setMode('reset'); // new connections fail; the transaction's connection stays up
        // Two failures of mysql2's own open the breaker (threshold 2).
        const failures = [
          await driver.run('pool', 'SELECT 1'),
          await driver.run('pool', 'SELECT 1'),
        ];
        for (const failed of failures)
          expect(failed).toMatchObject({ ok: false, error: { baldur: false } });
        const status = await driver.call({ op: 'status' });
        expect(
          driver.events('circuit_breaker.state_change'),
          `failures ${JSON.stringify(failures)}, status ${JSON.stringify(status)}`,
        ).toEqual([expect.objectContaining({ to: 'open' })]);

        const open = { ok: false, error: { code: 'BALDUR_CIRCUIT_OPEN', baldur: true } };
        expect(
          await driver.run('tx', `INSERT INTO ${table} (v) VALUES (2)`, 'promise'),
        ).toMatchObject(open);
        expect(await driver.call({ op: 'commit', name: 'tx' })).toMatchObject(open);
        expect(await driver.call({ op: 'rollback', name: 'tx' })).toMatchObject({ ok: true });
        expect(await driver.run('tx', 'SELECT 1', 'promise')).toMatchObject(open);
        await driver.call({ op: 'release', name: 'tx' });
        expect(await rig.sql(`SELECT count(*) AS n FROM ${table}`)).toEqual([{ n: 0 }]);
      });
    },
  );
});
