import { afterEach, describe, expect, it } from 'vitest';
import { serviceAvailable } from '../../support/services';
import { Driver, Rig, sleep, testPolicies, until, type Result } from './harness';

/** Retries (read-only commands only), attempt timeouts and the bulkhead around real ioredis clients. */
// Gated in an async suite: test files compile as CommonJS (no top-level await).
describe('ioredis instrumentation', async () => {
  const hasRedis = await serviceAvailable('redis');

  describe.runIf(hasRedis).each(['apps/ioredis-driver.cjs', 'apps/ioredis-driver.mjs'])(
    'ioredis retries, timeouts and bulkhead (%s)',
    app => {
      let rig: Rig | undefined;
      let driver: Driver | undefined;

      afterEach(async () => {
        await driver?.stop();
        await rig?.stop();
        driver = rig = undefined;
      });

      it('retries a GET (also auto-pipelined) across a transient outage, and never an INCR or a SET', async () => {
        rig = Rig.withDefaults(
          testPolicies({
            circuitBreaker: { failureThreshold: 100, minimumCalls: 100 },
            retry: {
              maxAttempts: 10,
              backoff: 'constant',
              baseDelay: '100ms',
              jitter: 0,
              budget: false,
            },
          }),
        );
        const proxy = await rig.proxy();
        driver = await Driver.start(app, rig);
        // maxRetriesPerRequest 0: ioredis fails queued commands at each failed reconnect instead of holding them.
        const through = { port: proxy.address.port, maxRetriesPerRequest: 0, retryDelayMs: 30 };
        await driver.client('a', through);
        await driver.client('auto', { ...through, enableAutoPipelining: true });
        const [value, counter, untouched] = [
          rig.key('value'),
          rig.key('counter'),
          rig.key('untouched'),
        ];
        await driver.cmd('a', 'set', value, 'hello');
        await driver.cmd('a', 'set', counter, '0');
        await driver.cmd('auto', 'ping');

        await proxy.setMode('reset');
        proxy.dropAll();
        await until(
          async () => (await driver!.call({ op: 'state', client: 'a' })).status !== 'ready',
        );
        const get = driver.cmd('a', 'get', value);
        const autoGet = driver.cmd('auto', 'get', value);
        const incr = await driver.cmd('a', 'incr', counter);
        const set = await driver.cmd('a', 'set', untouched, 'written');
        await until(() => driver!.events('retry.scheduled').length >= 2);
        await proxy.setMode('pass');

        expect(await get).toMatchObject({ ok: true, value: 'hello' });
        expect(await autoGet).toMatchObject({ ok: true, value: 'hello' });
        // Writes fail with the client's own error, once, and are not re-sent later.
        for (const write of [incr, set]) {
          expect(write).toMatchObject({
            ok: false,
            error: { name: 'MaxRetriesPerRequestError', baldur: false },
          });
        }
        await sleep(100);
        expect(await driver.cmd('a', 'get', counter)).toMatchObject({ ok: true, value: '0' });
        expect(await driver.cmd('a', 'get', untouched)).toMatchObject({ ok: true, value: null });
      });

      it('cuts a command to a silent server with its timeout and never sends it later', async () => {
        rig = Rig.withDefaults(
          testPolicies({ timeout: '250ms', circuitBreaker: { failureThreshold: 100 } }),
        );
        const proxy = await rig.proxy();
        driver = await Driver.start(app, rig);
        await driver.client('a', { port: proxy.address.port, retryDelayMs: 30 });
        const key = rig.key('k');
        await driver.cmd('a', 'set', key, 'before');

        await proxy.setMode('blackhole');
        proxy.dropAll();
        await until(
          async () => (await driver!.call({ op: 'state', client: 'a' })).status !== 'ready',
        );
        const cut: Result[] = [
          await driver.cmd('a', 'set', key, 'after'),
          await driver.cmd('a', 'get', key),
          await driver.call({ op: 'callback', client: 'a', command: 'incr', args: [key] }),
          await driver.call({ op: 'batch', client: 'a', commands: [['set', key, 'piped']] }),
          await driver.call({
            op: 'batch',
            client: 'a',
            commands: [['set', key, 'multi']],
            multi: true,
          }),
        ];
        for (const result of cut) {
          expect(result).toMatchObject({
            ok: false,
            error: { name: 'TimeoutError', code: 'BALDUR_TIMEOUT', baldur: true },
          });
        }
        expect(await driver.call({ op: 'state', client: 'a' })).toMatchObject({ offline: 0 });

        await proxy.setMode('pass');
        proxy.dropAll();
        let after: Result | undefined;
        await until(async () => {
          after = await driver!.cmd('a', 'get', key);
          return after.ok === true;
        });
        expect(after!.value).toBe('before');
      });

      it('times out a command stuck behind a blocking pop, while blocking and pub/sub commands run their course', async () => {
        rig = Rig.withDefaults(testPolicies({ timeout: '300ms' }));
        driver = await Driver.start(app, rig);
        await driver.client('a');
        await driver.client('b');
        await driver.client('sub');
        const [queue, stream, key, channel] = [
          rig.key('q'),
          rig.key('s'),
          rig.key('k'),
          rig.key('ch'),
        ];

        const emptyPop = driver.cmd('a', 'blpop', queue, 1);
        const stuck = await driver.cmd('a', 'get', key);
        expect(stuck).toMatchObject({ ok: false, error: { code: 'BALDUR_TIMEOUT' } });
        expect(await emptyPop).toMatchObject({ ok: true, value: null });

        const pop = driver.cmd('a', 'blpop', queue, 5);
        const read = driver.cmd('b', 'xread', 'BLOCK', 5000, 'STREAMS', stream, '$');
        const subscribed = driver.call({
          op: 'cmd',
          client: 'sub',
          command: 'subscribe',
          args: [channel],
        });
        await sleep(600);
        await driver.client('c');
        expect(await driver.cmd('c', 'rpush', queue, 'job')).toMatchObject({ ok: true });
        expect(await driver.cmd('c', 'xadd', stream, '1-1', 'f', 'v')).toMatchObject({ ok: true });
        expect(await pop).toMatchObject({ ok: true, value: [queue, 'job'] });
        expect(await read).toMatchObject({ ok: true, value: [[stream, [['1-1', ['f', 'v']]]]] });
        expect(await subscribed).toMatchObject({ ok: true, value: 1 });

        // An open breaker still turns a blocking pop away at once; subscriptions are never policed.
        await driver.call({ op: 'force-open', name: 'redis:127.0.0.1:6379/0' });
        expect(await driver.cmd('b', 'blpop', queue, 5)).toMatchObject({
          ok: false,
          error: { code: 'BALDUR_CIRCUIT_OPEN' },
        });
        expect(await driver.cmd('sub', 'subscribe', rig.key('ch2'))).toMatchObject({
          ok: true,
          value: 2,
        });
        await driver.call({ op: 'reset', name: 'redis:127.0.0.1:6379/0' });
      });

      it('caps commands in flight with the bulkhead; a pipeline takes one slot and blocking pops none', async () => {
        rig = Rig.withDefaults(testPolicies({ bulkhead: { maxConcurrent: 2, maxQueue: 0 } }));
        driver = await Driver.start(app, rig);
        await driver.client('a');
        const key = rig.key('k');
        await driver.cmd('a', 'set', key, 'v');

        const burst = await driver.call({
          op: 'cmds',
          client: 'a',
          command: 'get',
          args: [key],
          count: 6,
          parallel: true,
        });
        expect(burst.outcomes.filter((o: Result) => o.ok).map((o: Result) => o.value)).toEqual([
          'v',
          'v',
        ]);
        expect(
          burst.outcomes.filter((o: Result) => !o.ok).map((o: Result) => o.error.code),
        ).toEqual(Array(4).fill('BALDUR_BULKHEAD_FULL'));

        const pipeline = await driver.call({
          op: 'batch',
          client: 'a',
          commands: Array.from({ length: 10 }, () => ['get', key]),
        });
        expect(pipeline).toMatchObject({ ok: true, value: Array(10).fill([null, 'v']) });

        await driver.client('blocker');
        const pops = [
          driver.cmd('blocker', 'blpop', rig.key('q'), 0.5),
          driver.cmd('blocker', 'blpop', rig.key('q'), 0.5),
        ];
        await sleep(100);
        const during = await driver.call({
          op: 'cmds',
          client: 'a',
          command: 'get',
          args: [key],
          count: 2,
          parallel: true,
        });
        expect(during.outcomes).toEqual([
          { ok: true, value: 'v' },
          { ok: true, value: 'v' },
        ]);
        expect(await Promise.all(pops)).toMatchObject([
          { ok: true, value: null },
          { ok: true, value: null },
        ]);
      });
    },
  );
});
