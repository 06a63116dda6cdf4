import { afterEach, describe, expect, it } from 'vitest';
import type { FaultMode } from '../../support/fault-proxy';
import { serviceAvailable } from '../../support/services';
import { Driver, Rig, testPolicies, until, type Result } from './harness';

// Gated in an async suite: test files compile as CommonJS (no top-level await).
describe('mysql2 instrumentation', async () => {
  const hasMysql = await serviceAvailable('mysql');

  /**
   * The circuit breaker around real mysql2 pools and connections whose server
   * goes away behind a FaultProxy (reset, refused, accepted and never answered).
   * While open, every API form fails fast with the typed error — through the
   * callback, the promise, or the command's 'error' event — and the proxy sees
   * no connection attempt. After recoveryTimeout a probe closes it again.
   */
  const cases: [string, FaultMode][] = [
    ['apps/mysql2-driver.cjs', 'reset'],
    ['apps/mysql2-driver.cjs', 'refuse'],
    ['apps/mysql2-driver.cjs', 'blackhole'],
    ['apps/mysql2-driver.mjs', 'reset'],
    ['apps/mysql2-driver.mjs', 'blackhole'],
  ];

  const CIRCUIT_OPEN = { name: 'CircuitOpenError', code: 'BALDUR_CIRCUIT_OPEN', baldur: true };

  describe.runIf(hasMysql).each(cases)('mysql2 circuit breaker (%s, proxy %s)', (app, mode) => {
    let rig: Rig | undefined;
    let driver: Driver | undefined;

    afterEach(async () => {
      await driver?.stop();
      await rig?.stop();
      driver = rig = undefined;
    });

    it('opens at its threshold, fails fast without connecting, and recovers through a probe', async () => {
      rig = new Rig({
        defaults: testPolicies({ timeout: '1s' }),
        dependencies: [{ match: { system: 'mysql' }, name: 'db' }],
      });
      const proxy = await rig.proxy();
      driver = await Driver.start(app, rig, {
        port: proxy.address.port,
        pool: { connectionLimit: 4 },
      });
      expect(await driver.run('pool', 'SELECT 1 AS one')).toMatchObject({
        ok: true,
        rows: [{ one: 1 }],
      });
      expect(
        await driver.call({ op: 'open', name: 'standalone', kind: 'standalone' }),
      ).toMatchObject({ ok: true });
      expect(await driver.run('standalone', 'SELECT 1 AS one')).toMatchObject({ ok: true });

      const switched = proxy.setMode(mode);
      proxy.dropAll();
      await switched;
      // Three failures, each mysql2's own (or the agent's timeout for a silent server).
      for (const [via, form] of [
        ['pool', 'callback'],
        ['promisePool', 'promise'],
        ['pool', 'emitter'],
      ] as const) {
        const failed = await driver.run(via, 'SELECT 1', form);
        expect(failed.ok).toBe(false);
        expect(failed.error.code).not.toBe('BALDUR_CIRCUIT_OPEN');
      }
      expect(driver.events('circuit_breaker.state_change')).toEqual([
        expect.objectContaining({ dependency: 'db', from: 'closed', to: 'open' }),
      ]);

      proxy.resetCounters();
      const rejected: Result[] = [
        await driver.run('pool', 'SELECT 1', 'callback'),
        await driver.run('pool', 'SELECT ?', 'callback', { method: 'execute', values: [1] }),
        await driver.run('promisePool', 'SELECT 1', 'promise'),
        await driver.run('promisePool', 'SELECT ?', 'promise', { method: 'execute', values: [1] }),
        await driver.run('pool', 'SELECT 1', 'emitter'),
        await driver.run('standalone', 'SELECT 1', 'callback'),
        await driver.run('standalone', 'SELECT ?', 'callback', { method: 'execute', values: [1] }),
        await driver.run('standalone', 'SELECT 1', 'emitter'),
        await driver.call({ op: 'open', name: 'x', kind: 'checkout' }),
        await driver.call({ op: 'open', name: 'y', kind: 'promiseCheckout' }),
      ];
      for (const result of rejected) {
        expect(result.ok).toBe(false);
        expect(result.error).toMatchObject(CIRCUIT_OPEN);
      }
      // mysql2's return shapes are kept: a command from query/execute, nothing from pool.execute and getConnection.
      expect(rejected.map(r => r.returned ?? r.emitter)).toEqual([
        'command',
        'undefined',
        undefined,
        undefined,
        true,
        'command',
        'command',
        true,
        'undefined',
        undefined,
      ]);
      expect(rejected[4]!.events).toEqual(['error', 'end']); // as mysql2 reports a failed command
      expect(proxy.connections).toBe(0);

      await proxy.setMode('pass');
      await until(async () => (await driver!.run('pool', 'SELECT 2 AS two')).ok === true, 10_000);
      expect(driver.events('circuit_breaker.state_change').map(e => `${e.from}>${e.to}`)).toEqual([
        'closed>open',
        'open>half_open',
        'half_open>closed',
      ]);
      expect(await driver.run('promisePool', 'SELECT 3 AS three', 'promise')).toMatchObject({
        ok: true,
        rows: [{ three: 3 }],
      });
      // No checkout leaked: every connection the pools hold is free again.
      const { pool, promisePool } = await driver.call({ op: 'pool-stats' });
      for (const stats of [pool, promisePool]) {
        expect(stats.free).toBe(stats.total);
        expect(stats.waiting).toBe(0);
      }
    });
  });

  describe.runIf(hasMysql)('mysql2 failure classification', () => {
    let rig: Rig | undefined;
    let driver: Driver | undefined;

    afterEach(async () => {
      await driver?.stop();
      await rig?.stop();
      driver = rig = undefined;
    });

    it('duplicate keys, parse errors and missing tables never count toward the breaker', async () => {
      rig = Rig.withDefaults(
        testPolicies({ circuitBreaker: { failureThreshold: 2, recoveryTimeout: '1m' } }),
      );
      const table = rig.name('unique');
      await rig.create(
        `CREATE TABLE ${table} (id INT PRIMARY KEY)`,
        `DROP TABLE IF EXISTS ${table}`,
      );
      driver = await Driver.start('apps/mysql2-driver.cjs', rig);
      expect(await driver.run('pool', `INSERT INTO ${table} VALUES (1)`)).toMatchObject({
        ok: true,
      });
      const failures = [
        await driver.run('pool', `INSERT INTO ${table} VALUES (1)`),
        await driver.run('promisePool', `INSERT INTO ${table} VALUES (?)`, 'promise', {
          method: 'execute',
          values: [1],
        }),
        await driver.run('pool', 'SELEC 1'),
        await driver.run('promisePool', 'SELEC 1', 'promise'),
        await driver.run('pool', `SELECT * FROM ${rig.name('missing')}`),
      ];
      expect(failures.map(f => [f.ok, f.error.code, f.error.baldur])).toEqual([
        [false, 'ER_DUP_ENTRY', false],
        [false, 'ER_DUP_ENTRY', false],
        [false, 'ER_PARSE_ERROR', false],
        [false, 'ER_PARSE_ERROR', false],
        [false, 'ER_NO_SUCH_TABLE', false],
      ]);
      expect(await driver.run('pool', `SELECT count(*) AS n FROM ${table}`)).toMatchObject({
        ok: true,
        rows: [{ n: 1 }],
      });
      expect(driver.events('circuit_breaker.state_change')).toEqual([]);
      const status = await driver.call({ op: 'status' });
      expect(status.pipelines).toEqual([expect.objectContaining({ state: 'closed' })]);
    });
  });
});
