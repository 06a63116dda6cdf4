import { afterEach, describe, expect, it } from 'vitest';
import type { FaultMode } from '../../support/fault-proxy';
import { serviceAvailable } from '../../support/services';
import { Driver, Rig, testPolicies, until, type Result } from './harness';

/**
 * The circuit breaker around a real ioredis client whose Redis goes away behind
 * a FaultProxy (connections reset, refused, or accepted and never answered).
 * Two proxies in front of the same Redis share one dependency through a config
 * entry named `cache`, so the second one can show that an open breaker keeps a
 * client from even connecting.
 */
const cases: [string, FaultMode][] = [
  ['apps/ioredis-driver.cjs', 'reset'],
  ['apps/ioredis-driver.cjs', 'refuse'],
  ['apps/ioredis-driver.cjs', 'blackhole'],
  ['apps/ioredis-driver.mjs', 'reset'],
  ['apps/ioredis-driver.mjs', 'blackhole'],
];

// Gated in an async suite: test files compile as CommonJS (no top-level await).
describe('ioredis instrumentation', async () => {
  const hasRedis = await serviceAvailable('redis');

  describe.runIf(hasRedis).each(cases)('ioredis circuit breaker (%s, proxy %s)', (app, mode) => {
    let rig: Rig | undefined;
    let driver: Driver | undefined;

    afterEach(async () => {
      await driver?.stop();
      await rig?.stop();
      driver = rig = undefined;
    });

    it('opens at its threshold, fails fast without connecting or queueing, and recovers through a probe', async () => {
      rig = new Rig({
        defaults: testPolicies({ timeout: '300ms' }),
        dependencies: [{ match: { system: 'redis', host: '127.0.0.1' }, name: 'cache' }],
      });
      const flaky = await rig.proxy();
      const healthy = await rig.proxy();
      driver = await Driver.start(app, rig);
      const key = rig.key('k');
      await driver.client('a', {
        port: flaky.address.port,
        maxRetriesPerRequest: 0,
        retryDelayMs: 100,
      });
      expect(await driver.cmd('a', 'set', key, 'v')).toMatchObject({ ok: true, value: 'OK' });

      const switched = flaky.setMode(mode); // `refuse` closes the listener once open connections are gone
      flaky.dropAll();
      await switched;
      // Three failed commands, each the client's own failure (or our timeout for a silent server).
      for (let i = 0; i < 3; i++) {
        const failed = await driver.cmd('a', 'get', key);
        expect(failed.ok).toBe(false);
        expect(failed.error.code).not.toBe('BALDUR_CIRCUIT_OPEN');
      }
      expect(driver.events('circuit_breaker.state_change')).toEqual([
        expect.objectContaining({ dependency: 'cache', from: 'closed', to: 'open' }),
      ]);

      const before = await driver.call({ op: 'state', client: 'a' });
      await driver.client('b', { port: healthy.address.port, lazyConnect: true });
      const rejected: Result[] = [
        await driver.cmd('a', 'get', key),
        await driver.cmd('a', 'set', key, 'w'),
        await driver.cmd('b', 'get', key),
        await driver.call({ op: 'callback', client: 'a', command: 'get', args: [key] }),
        await driver.call({
          op: 'batch',
          client: 'b',
          commands: [
            ['get', key],
            ['set', key, 'x'],
          ],
        }),
        await driver.call({ op: 'batch', client: 'a', commands: [['incr', key]], multi: true }),
      ];
      for (const result of rejected) {
        expect(result.ok).toBe(false);
        expect(result.error).toMatchObject({
          name: 'CircuitOpenError',
          code: 'BALDUR_CIRCUIT_OPEN',
          baldur: true,
          dependency: 'cache',
        });
      }
      // Nothing was queued for later, and the healthy proxy never saw a connection.
      expect(await driver.call({ op: 'state', client: 'a' })).toMatchObject({
        offline: before.offline,
      });
      expect(await driver.call({ op: 'state', client: 'b' })).toMatchObject({
        status: 'wait',
        offline: 0,
      });
      expect(healthy.connections).toBe(0);

      await flaky.setMode('pass');
      if (mode === 'blackhole') flaky.dropAll(); // the silent connection is cut; ioredis reconnects by itself
      let recovered: Result | undefined;
      await until(async () => {
        recovered = await driver!.cmd('a', 'get', key);
        return recovered.ok === true;
      });
      // 'v', not 'w': the SET refused while open never ran.
      expect(recovered).toMatchObject({ ok: true, value: 'v' });
      expect(await driver.call({ op: 'breaker', name: 'cache' })).toMatchObject({
        state: 'closed',
      });
      expect(await driver.cmd('b', 'get', key)).toMatchObject({ ok: true, value: 'v' });
      expect(healthy.connections).toBe(1);
    });
  });
});
