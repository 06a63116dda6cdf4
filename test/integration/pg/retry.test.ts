import { afterEach, describe, expect, it } from 'vitest';
import { serviceAvailable } from '../../support/services';
import { Driver, FAST_RETRY, Rig, testPolicies } from './harness';

// Gated in an async suite: test files compile as CommonJS (no top-level await).
describe('pg instrumentation', async () => {
  const hasPostgres = await serviceAvailable('postgres');

  /**
   * Retries only where they are safe (SPEC §4: SQL outside a transaction). The
   * statements kill their own connection on the first execution only
   * (`pg_terminate_backend(pg_backend_pid())` gated by a sequence, which is not
   * transactional), so the sequence tells how many times the server ran them.
   */
  function killFirst(sequence: string, statement: 'select' | 'insert', table = ''): string {
    const expression = `CASE WHEN nextval('${sequence}') = 1 THEN pg_terminate_backend(pg_backend_pid())::int ELSE 2 END`;
    return statement === 'select'
      ? `SELECT ${expression} AS v`
      : `INSERT INTO ${table} (v) SELECT ${expression}`;
  }

  describe.runIf(hasPostgres).each(['apps/pg-driver.cjs', 'apps/pg-driver.mjs'])(
    'pg retries (%s)',
    app => {
      let rig: Rig | undefined;
      let driver: Driver | undefined;

      afterEach(async () => {
        await driver?.stop();
        await rig?.stop();
        driver = rig = undefined;
      });

      async function executions(sequence: string): Promise<number> {
        const { rows } = await rig!.sql(
          `SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS n FROM ${sequence}`,
        );
        return Number(rows[0].n);
      }

      async function rowCount(table: string): Promise<number> {
        return (await rig!.sql(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n as number;
      }

      it('retries a SELECT through Pool.query on a fresh client; never an INSERT', async () => {
        rig = Rig.withDefaults(testPolicies({ retry: FAST_RETRY }));
        const selects = rig.name('select_runs');
        const inserts = rig.name('insert_runs');
        const table = rig.name('rows');
        await rig.create(`CREATE SEQUENCE ${selects}`, `DROP SEQUENCE IF EXISTS ${selects}`);
        await rig.create(`CREATE SEQUENCE ${inserts}`, `DROP SEQUENCE IF EXISTS ${inserts}`);
        await rig.create(`CREATE TABLE ${table} (v int)`, `DROP TABLE IF EXISTS ${table}`);
        driver = await Driver.start(app, rig);

        expect(await driver.poolQuery(killFirst(selects, 'select'), 'callback')).toMatchObject({
          ok: true,
          value: { rows: [{ v: 2 }] },
          returned: 'undefined',
        });
        expect(await executions(selects)).toBe(2);
        expect(driver.events('retry.scheduled')).toHaveLength(1);

        const insert = await driver.poolQuery(killFirst(inserts, 'insert', table));
        expect(insert).toMatchObject({ ok: false, error: { code: '57P01', baldur: false } });
        expect(await executions(inserts)).toBe(1);
        expect(await rowCount(table)).toBe(0);
        expect(driver.events('retry.scheduled')).toHaveLength(1);
      });

      it('retries nothing inside BEGIN … COMMIT, nor on a client left inside a transaction', async () => {
        rig = Rig.withDefaults(testPolicies({ retry: FAST_RETRY }));
        const inTransaction = rig.name('tx_runs');
        const leaked = rig.name('leak_runs');
        const table = rig.name('tx_rows');
        await rig.create(
          `CREATE SEQUENCE ${inTransaction}`,
          `DROP SEQUENCE IF EXISTS ${inTransaction}`,
        );
        await rig.create(`CREATE SEQUENCE ${leaked}`, `DROP SEQUENCE IF EXISTS ${leaked}`);
        await rig.create(`CREATE TABLE ${table} (v int)`, `DROP TABLE IF EXISTS ${table}`);
        driver = await Driver.start(app, rig, { pool: { max: 1 } });

        expect(await driver.call({ op: 'connect', name: 'tx' })).toMatchObject({ ok: true });
        expect(await driver.clientQuery('tx', 'BEGIN')).toMatchObject({ ok: true });
        expect(await driver.clientQuery('tx', `INSERT INTO ${table} (v) VALUES (1)`)).toMatchObject(
          {
            ok: true,
          },
        );
        const select = await driver.clientQuery(
          'tx',
          killFirst(inTransaction, 'select'),
          'callback',
        );
        expect(select).toMatchObject({
          ok: false,
          error: { code: '57P01', baldur: false },
          returned: 'undefined',
        });
        expect(await driver.clientQuery('tx', 'COMMIT')).toMatchObject({
          ok: false,
          error: { baldur: false },
        });
        await driver.call({ op: 'release', name: 'tx', destroy: true });
        expect(await executions(inTransaction)).toBe(1);
        expect(await rowCount(table)).toBe(0);

        // A client released without COMMIT/ROLLBACK: Pool.query runs inside its transaction and must not repeat.
        expect(await driver.call({ op: 'connect', name: 'leak' })).toMatchObject({ ok: true });
        expect(await driver.clientQuery('leak', 'BEGIN')).toMatchObject({ ok: true });
        await driver.call({ op: 'release', name: 'leak' });
        expect(await driver.poolQuery(killFirst(leaked, 'select'))).toMatchObject({
          ok: false,
          error: { code: '57P01', baldur: false },
        });
        expect(await executions(leaked)).toBe(1);
        expect(driver.events('retry.scheduled')).toEqual([]);
      });

      it('lets ROLLBACK through an open breaker, so no transaction is left open', async () => {
        rig = new Rig({
          defaults: testPolicies({
            circuitBreaker: { failureThreshold: 2, recoveryTimeout: '1m' },
          }),
          dependencies: [{ match: { system: 'postgresql' }, name: 'db' }],
        });
        const table = rig.name('rollback_rows');
        const application = rig.name('app');
        await rig.create(`CREATE TABLE ${table} (v int)`, `DROP TABLE IF EXISTS ${table}`);
        const proxy = await rig.proxy();
        driver = await Driver.start(app, rig, {
          port: proxy.address.port,
          pool: { max: 2, application_name: application },
        });

        expect(await driver.call({ op: 'connect', name: 'tx' })).toMatchObject({ ok: true });
        expect(await driver.clientQuery('tx', 'BEGIN')).toMatchObject({ ok: true });
        expect(await driver.clientQuery('tx', `INSERT INTO ${table} (v) VALUES (1)`)).toMatchObject(
          {
            ok: true,
          },
        );
        await proxy.setMode('reset'); // new connections fail; the transaction's connection stays up
        for (let i = 0; i < 2; i++) expect((await driver.poolQuery('SELECT 1')).ok).toBe(false);
        expect(driver.events('circuit_breaker.state_change')).toEqual([
          expect.objectContaining({ to: 'open' }),
        ]);

        const open = { ok: false, error: { code: 'BALDUR_CIRCUIT_OPEN', baldur: true } };
        expect(await driver.clientQuery('tx', `INSERT INTO ${table} (v) VALUES (2)`)).toMatchObject(
          open,
        );
        expect(await driver.clientQuery('tx', 'ROLLBACK', 'callback')).toMatchObject({
          ok: true,
          value: { command: 'ROLLBACK' },
        });
        expect(await driver.clientQuery('tx', 'SELECT 1')).toMatchObject(open);
        await driver.call({ op: 'release', name: 'tx' });

        expect(await rowCount(table)).toBe(0);
        const open_transactions = await rig.sql(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state LIKE 'idle in transaction%'`,
          [application],
        );
        expect(open_transactions.rows[0].n).toBe(0);
      });
    },
  );
});
