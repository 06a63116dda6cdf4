import { afterEach, describe, expect, it } from 'vitest';
import type { FaultMode } from '../../support/fault-proxy';
import { serviceAvailable } from '../../support/services';
import { Driver, Rig, testPolicies, until, type Result } from './harness';

// Gated in an async suite: test files compile as CommonJS (no top-level await).
describe('pg instrumentation', async () => {
  const hasPostgres = await serviceAvailable('postgres');

  /**
   * The circuit breaker around a real pg Pool whose PostgreSQL goes away behind
   * a FaultProxy (connections reset, refused, or accepted and never answered).
   * While open, every form of call fails fast with the typed error through the
   * callback, the promise or the submittable's own error path, and the proxy
   * sees no connection attempt. After recoveryTimeout a probe closes it again.
   */
  const cases: [string, FaultMode][] = [
    ['apps/pg-driver.cjs', 'reset'],
    ['apps/pg-driver.cjs', 'refuse'],
    ['apps/pg-driver.cjs', 'blackhole'],
    ['apps/pg-driver.mjs', 'reset'],
    ['apps/pg-driver.mjs', 'blackhole'],
  ];

  const CIRCUIT_OPEN = { name: 'CircuitOpenError', code: 'BALDUR_CIRCUIT_OPEN', baldur: true };

  describe.runIf(hasPostgres).each(cases)('pg circuit breaker (%s, proxy %s)', (app, mode) => {
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
        dependencies: [{ match: { system: 'postgresql' }, name: 'db' }],
      });
      const proxy = await rig.proxy();
      driver = await Driver.start(app, rig, { port: proxy.address.port, pool: { max: 4 } });
      expect(await driver.poolQuery('SELECT 1 AS one')).toMatchObject({
        ok: true,
        value: { rows: [{ one: 1 }] },
      });
      expect(await driver.call({ op: 'client', name: 'standalone' })).toMatchObject({ ok: true });

      const switched = proxy.setMode(mode);
      proxy.dropAll();
      await switched;
      // Three failures, each pg's own (or the agent's timeout for a silent server).
      for (const form of ['promise', 'callback', 'promise'] as const) {
        const failed = await driver.poolQuery('SELECT 1', form);
        expect(failed.ok).toBe(false);
        expect(failed.error.code).not.toBe('BALDUR_CIRCUIT_OPEN');
      }
      expect(driver.events('circuit_breaker.state_change')).toEqual([
        expect.objectContaining({ dependency: 'db', from: 'closed', to: 'open' }),
      ]);

      proxy.resetCounters();
      const rejected: Result[] = [
        await driver.poolQuery('SELECT 1', 'promise'),
        await driver.poolQuery('SELECT 1', 'callback'),
        await driver.call({ op: 'connect', name: 'x', form: 'promise' }),
        await driver.call({ op: 'connect', name: 'y', form: 'callback' }),
        await driver.clientQuery('standalone', 'SELECT 1', 'promise'),
        await driver.clientQuery('standalone', 'SELECT 1', 'callback'),
        await driver.call({ op: 'submit', client: 'standalone', sql: 'SELECT 1' }),
      ];
      for (const result of rejected) {
        expect(result.ok).toBe(false);
        expect(result.error).toMatchObject(CIRCUIT_OPEN);
      }
      // pg's return shapes are kept: a promise, undefined with a callback, the submittable itself.
      expect(rejected.map(r => r.returned ?? r.same)).toEqual([
        'promise',
        'undefined',
        undefined,
        'undefined',
        'promise',
        'undefined',
        true,
      ]);
      expect(rejected[3]!.done).toBe('function');
      expect(proxy.connections).toBe(0);

      await proxy.setMode('pass');
      await until(async () => (await driver!.poolQuery('SELECT 2 AS two')).ok === true, 10_000);
      expect(driver.events('circuit_breaker.state_change').map(e => `${e.from}>${e.to}`)).toEqual([
        'closed>open',
        'open>half_open',
        'half_open>closed',
      ]);
      expect(await driver.poolQuery('SELECT 3 AS three', 'callback')).toMatchObject({
        ok: true,
        value: { rows: [{ three: 3 }] },
      });
      // No checkout leaked: every client the pool holds is idle again.
      const stats = await driver.call({ op: 'pool-stats' });
      expect(stats.idle).toBe(stats.total);
      expect(stats.waiting).toBe(0);
    });
  });

  describe.runIf(hasPostgres)('pg failure classification', () => {
    let rig: Rig | undefined;
    let driver: Driver | undefined;

    afterEach(async () => {
      await driver?.stop();
      await rig?.stop();
      driver = rig = undefined;
    });

    it('constraint violations and syntax errors never count toward the breaker', async () => {
      rig = Rig.withDefaults(
        testPolicies({ circuitBreaker: { failureThreshold: 2, recoveryTimeout: '1m' } }),
      );
      const table = rig.name('unique');
      await rig.create(
        `CREATE TABLE ${table} (id int PRIMARY KEY)`,
        `DROP TABLE IF EXISTS ${table}`,
      );
      driver = await Driver.start('apps/pg-driver.cjs', rig);
      expect(await driver.poolQuery(`INSERT INTO ${table} VALUES (1)`)).toMatchObject({ ok: true });
      for (let i = 0; i < 4; i++) {
        const duplicate = await driver.poolQuery(
          `INSERT INTO ${table} VALUES (1)`,
          i % 2 === 0 ? 'promise' : 'callback',
        );
        expect(duplicate).toMatchObject({ ok: false, error: { code: '23505', baldur: false } });
      }
      for (let i = 0; i < 3; i++) {
        expect(await driver.poolQuery(`SELEC ${i}`)).toMatchObject({
          ok: false,
          error: { code: '42601', baldur: false },
        });
      }
      expect(await driver.poolQuery(`SELECT count(*)::int AS n FROM ${table}`)).toMatchObject({
        ok: true,
        value: { rows: [{ n: 1 }] },
      });
      expect(driver.events('circuit_breaker.state_change')).toEqual([]);
      const status = await driver.call({ op: 'status' });
      expect(status.pipelines).toEqual([expect.objectContaining({ state: 'closed' })]);
    });
  });
});
