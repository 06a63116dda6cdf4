import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES } from '../../support/run-app';
import { serviceAvailable } from '../../support/services';
import { Driver, Rig, testPolicies, until, type Result } from './harness';

const OTEL_SETUP = join(FIXTURES, 'apps/ioredis-otel-setup.cjs');

/**
 * The agent next to @opentelemetry/instrumentation-ioredis, registered before
 * it (`--require` order: OTel's hooks, then ours → our wrapper outside OTel's)
 * and after it (the app sets OTel up after the agent's preload → OTel's
 * wrapper outside ours). Both wrappers stay active, spans are not doubled and
 * retries are not multiplied.
 */
const orders = {
  'OpenTelemetry only': {
    app: 'apps/ioredis-driver-otel.cjs',
    preload: 'none' as const,
    nodeArgs: [],
  },
  'OpenTelemetry first': {
    app: 'apps/ioredis-driver.cjs',
    preload: 'require' as const,
    nodeArgs: ['--require', OTEL_SETUP],
  },
  'agent first': { app: 'apps/ioredis-driver-otel.cjs', preload: 'require' as const, nodeArgs: [] },
};

async function workload(driver: Driver, key: (name: string) => string): Promise<Result[]> {
  return [
    await driver.cmd('a', 'set', key('k'), 'v'),
    await driver.cmd('a', 'get', key('k')),
    await driver.call({ op: 'callback', client: 'a', command: 'get', args: [key('k')] }),
    await driver.call({
      op: 'batch',
      client: 'a',
      commands: [
        ['get', key('k')],
        ['incr', key('n')],
      ],
    }),
    await driver.call({
      op: 'batch',
      client: 'a',
      commands: [
        ['incr', key('n')],
        ['get', key('k')],
      ],
      multi: true,
    }),
  ];
}

const commandSpans = (spans: { name: string }[]): string[] =>
  spans.map(s => s.name).filter(name => !['connect', 'hello', 'client', 'info'].includes(name));

// Gated in an async suite: test files compile as CommonJS (no top-level await).
describe('ioredis instrumentation', async () => {
  const hasRedis = await serviceAvailable('redis');

  describe.runIf(hasRedis)('ioredis with @opentelemetry/instrumentation-ioredis', () => {
    let rig: Rig | undefined;
    let driver: Driver | undefined;

    afterEach(async () => {
      await driver?.stop();
      await rig?.stop();
      driver = rig = undefined;
    });

    async function start(
      order: keyof typeof orders,
      policies: Record<string, unknown>,
    ): Promise<Driver> {
      rig = Rig.withDefaults(policies);
      const { app, preload, nodeArgs } = orders[order];
      driver = await Driver.start(app, rig, { preload, nodeArgs });
      return driver;
    }

    it('produces the same results and the same spans in either order as with OpenTelemetry alone', async () => {
      const observed: Record<string, { results: Result[]; spans: string[] }> = {};
      for (const order of Object.keys(orders) as (keyof typeof orders)[]) {
        const app = await start(order, testPolicies());
        await app.client('a');
        // Connected first: OpenTelemetry's wrapper spans a command queued before `ready` twice, with or without us.
        await app.cmd('a', 'ping');
        await app.call({ op: 'spans' });
        const results = await workload(app, name => `${rig!.prefix}${name}`);
        observed[order] = { results, spans: commandSpans((await app.call({ op: 'spans' })).spans) };
        if (order !== 'OpenTelemetry only') {
          // Our policies are live too.
          await app.call({ op: 'force-open', name: 'redis:127.0.0.1:6379/0' });
          expect(await app.cmd('a', 'get', rig!.key('k'))).toMatchObject({
            error: { code: 'BALDUR_CIRCUIT_OPEN' },
          });
          // Turned away outside OpenTelemetry's wrapper: no client span. Inside it: its span ends with the error.
          const spans = (await app.call({ op: 'spans' })).spans as { name: string }[];
          expect(spans.filter(span => span.name === 'get')).toEqual(
            order === 'agent first' ? [{ name: 'get', error: true }] : [],
          );
        }
        await app.stop();
        await rig!.stop();
        driver = rig = undefined;
      }
      const control = observed['OpenTelemetry only']!;
      expect(control.spans).toEqual([
        'set',
        'get',
        'get',
        'get',
        'incr',
        'multi',
        'incr',
        'get',
        'exec',
      ]);
      expect(observed['OpenTelemetry first']).toEqual(control);
      expect(observed['agent first']).toEqual(control);
    });

    it.each([
      ['OpenTelemetry first', 3],
      ['agent first', 1],
    ] as const)(
      'retries a GET %s without multiplying attempts (%i GET spans)',
      async (order, getSpans) => {
        const app = await start(
          order,
          testPolicies({
            retry: {
              maxAttempts: 3,
              backoff: 'constant',
              baseDelay: '50ms',
              jitter: 0,
              budget: false,
            },
          }),
        );
        const proxy = await rig!.proxy();
        await app.client('a', {
          port: proxy.address.port,
          maxRetriesPerRequest: 0,
          retryDelayMs: 20,
        });
        await app.cmd('a', 'ping');
        await proxy.setMode('reset');
        proxy.dropAll();
        await until(async () => (await app.call({ op: 'state', client: 'a' })).status !== 'ready');
        await app.call({ op: 'spans' });

        const failed = await app.cmd('a', 'get', rig!.key('k'));
        expect(failed).toMatchObject({ ok: false, error: { name: 'MaxRetriesPerRequestError' } });
        expect(app.events('retry.scheduled')).toHaveLength(2);
        const spans = (await app.call({ op: 'spans' })).spans.filter(
          (s: { name: string }) => s.name === 'get',
        );
        // Our wrapper outside OpenTelemetry's: one span per attempt; inside: one span for the call.
        expect(spans).toEqual(Array(getSpans).fill({ name: 'get', error: true }));
      },
    );
  });
});
