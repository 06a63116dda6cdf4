import { afterEach, describe, expect, it } from 'vitest';
import { serviceAvailable } from '../../support/services';
import { Driver, Rig, testPolicies, type Result } from './harness';

const DEPENDENCY = 'redis:127.0.0.1:6379/0';

/** Pipelines, MULTI/EXEC and auto-pipelining: one decision per exec, clean rejections, no hangs. */
// Gated in an async suite: test files compile as CommonJS (no top-level await).
describe('ioredis instrumentation', async () => {
  const hasRedis = await serviceAvailable('redis');

  describe.runIf(hasRedis).each(['apps/ioredis-driver.cjs', 'apps/ioredis-driver.mjs'])(
    'ioredis pipelines and transactions (%s)',
    app => {
      let rig: Rig | undefined;
      let driver: Driver | undefined;

      afterEach(async () => {
        await driver?.stop();
        await rig?.stop();
        driver = rig = undefined;
      });

      it('takes one rate-limit permit per exec, however many commands it carries', async () => {
        rig = Rig.withDefaults(testPolicies({ rateLimit: { limit: 3, per: '1m' } }));
        driver = await Driver.start(app, rig);
        await driver.client('a');
        const key = rig.key('n');
        const tenIncrs = Array.from({ length: 10 }, () => ['incr', key]);

        const pipeline = await driver.call({ op: 'batch', client: 'a', commands: tenIncrs });
        expect(pipeline.ok).toBe(true);
        expect(pipeline.value.map((pair: unknown[]) => pair[1])).toEqual([
          1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
        ]);
        const multi = await driver.call({
          op: 'batch',
          client: 'a',
          commands: tenIncrs,
          multi: true,
        });
        expect(multi.ok).toBe(true);
        expect(multi.value.at(-1)).toEqual([null, 20]);
        expect(await driver.cmd('a', 'get', key)).toMatchObject({ ok: true, value: '20' });

        const limited = await driver.call({
          op: 'batch',
          client: 'a',
          commands: tenIncrs,
          callbacks: true,
        });
        expect(limited.error).toMatchObject({
          code: 'BALDUR_RATE_LIMITED',
          baldur: true,
          dependency: DEPENDENCY,
        });
        // Every command's own callback hears the same rejection; none of them ran.
        expect(limited.perCommand).toHaveLength(10);
        for (const error of limited.perCommand)
          expect(error).toMatchObject({ code: 'BALDUR_RATE_LIMITED' });
        expect(await driver.cmd('a', 'get', key)).toMatchObject({
          ok: false,
          error: { code: 'BALDUR_RATE_LIMITED' },
        });
      });

      it('rejects pipelines, transactions and auto-pipelined commands at once while the breaker is open', async () => {
        rig = Rig.withDefaults(testPolicies());
        driver = await Driver.start(app, rig);
        await driver.client('a');
        await driver.client('auto', { enableAutoPipelining: true });
        const key = rig.key('k');
        await driver.cmd('a', 'set', key, 'v');
        expect(await driver.call({ op: 'force-open', name: DEPENDENCY })).toMatchObject({
          ok: true,
        });

        const rejected: Result[] = [
          await driver.call({
            op: 'batch',
            client: 'a',
            commands: [
              ['get', key],
              ['set', key, 'x'],
            ],
            callbacks: true,
          }),
          await driver.call({
            op: 'batch',
            client: 'a',
            commands: [
              ['incr', rig.key('n')],
              ['get', key],
            ],
            multi: true,
            callbacks: true,
          }),
          await driver.call({ op: 'callback', client: 'a', command: 'get', args: [key] }),
          await driver.cmd('auto', 'get', key),
          await driver.call({ op: 'callback', client: 'auto', command: 'get', args: [key] }),
          await driver.call({
            op: 'cmds',
            client: 'auto',
            command: 'set',
            args: [key, 'y'],
            count: 3,
            parallel: true,
          }),
        ];
        const errors = rejected.flatMap(r => (r.outcomes ?? [r]).map((o: Result) => o.error));
        expect(errors).toHaveLength(8);
        for (const error of errors) {
          expect(error).toMatchObject({
            name: 'CircuitOpenError',
            code: 'BALDUR_CIRCUIT_OPEN',
            dependency: DEPENDENCY,
          });
        }
        for (const batch of rejected.slice(0, 2)) {
          expect(batch.perCommand.map((e: Result) => e.code)).toEqual(
            Array(batch.perCommand.length).fill('BALDUR_CIRCUIT_OPEN'),
          );
        }

        await driver.call({ op: 'reset', name: DEPENDENCY });
        expect(await driver.cmd('auto', 'get', key)).toMatchObject({ ok: true, value: 'v' });
        expect(
          await driver.call({
            op: 'batch',
            client: 'a',
            commands: [
              ['get', key],
              ['del', key, rig.key('n')],
            ],
            multi: true,
          }),
        ).toMatchObject({
          ok: true,
          value: [
            [null, 'v'],
            [null, 1],
          ],
        });
      });
    },
  );
});
