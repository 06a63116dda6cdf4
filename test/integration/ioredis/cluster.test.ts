import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Driver, LocalCluster, type Result } from './harness';

/**
 * A real three-master Redis Cluster: one dependency per Cluster client, keyed
 * by its first startup node, whichever node serves a command; results as
 * without the agent; rejections for single commands, pipelines, transactions
 * and auto-pipelined commands when that one breaker is open.
 */
describe.runIf(LocalCluster.available())('ioredis Cluster', () => {
  let cluster: LocalCluster;
  const prefix = `baldur-test:cluster:${process.pid}:`;

  beforeAll(async () => {
    cluster = await new LocalCluster().start();
  }, 30_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  /** Commands spread over all three masters, plus same-slot multi-key work. */
  async function workload(driver: Driver): Promise<Result[]> {
    const results: Result[] = [];
    for (let i = 0; i < 12; i++)
      results.push(await driver.cmd('c', 'set', `${prefix}k${i}`, `v${i}`));
    for (let i = 0; i < 12; i++) results.push(await driver.cmd('c', 'get', `${prefix}k${i}`));
    const tagged = (name: string): string => `${prefix}{tag}${name}`;
    results.push(await driver.cmd('c', 'mset', tagged('a'), '1', tagged('b'), '2'));
    results.push(await driver.cmd('c', 'mget', tagged('a'), tagged('b'), tagged('none')));
    results.push(await driver.cmd('c', 'lpush', tagged('a'), 'x'));
    results.push(
      await driver.call({ op: 'callback', client: 'c', command: 'incr', args: [tagged('n')] }),
    );
    results.push(
      await driver.call({
        op: 'batch',
        client: 'c',
        commands: [
          ['get', tagged('a')],
          ['incr', tagged('n')],
          ['lpush', tagged('a'), 'y'],
        ],
      }),
    );
    results.push(
      await driver.call({
        op: 'batch',
        client: 'c',
        commands: [
          ['incr', tagged('n')],
          ['get', tagged('b')],
        ],
        multi: true,
      }),
    );
    results.push(
      await driver.call({
        op: 'batch',
        client: 'c',
        commands: [
          // Slots 15495 and 3300 live on different masters: ioredis itself refuses the pipeline.
          ['get', `${prefix}{a}x`],
          ['get', `${prefix}{b}x`],
        ],
      }),
    );
    results.push(await driver.cmd('auto', 'get', `${prefix}k3`));
    results.push(await driver.cmd('auto', 'get', `${prefix}k4`));
    // Slot 15495 is not on the first startup node: its node must not become a dependency of its own.
    results.push(await driver.cmd('c', 'blpop', `${prefix}{a}queue`, 0.1));
    return results;
  }

  async function connect(app: string, preload: 'require' | 'import' | 'none'): Promise<Driver> {
    const driver = await Driver.start(app, undefined, { preload });
    const nodes = cluster.ports.map(port => ({ host: '127.0.0.1', port }));
    await driver.call({ op: 'cluster', name: 'c', nodes });
    await driver.call({
      op: 'cluster',
      name: 'auto',
      nodes,
      options: { enableAutoPipelining: true },
    });
    return driver;
  }

  it.each([
    ['apps/ioredis-driver.cjs', 'require'],
    ['apps/ioredis-driver.mjs', 'import'],
  ] as const)(
    'governs a Cluster as one dependency with unchanged results (%s)',
    async (app, preload) => {
      const control = await connect(app, 'none');
      const expected = await workload(control);
      await control.cmd('c', 'del', `${prefix}{tag}a`, `${prefix}{tag}b`, `${prefix}{tag}n`);
      await control.stop();

      const driver = await connect(app, preload);
      try {
        expect(await workload(driver)).toEqual(expected);
        expect(expected.filter(r => r.ok === false).map(r => r.error.message)).toEqual([
          'WRONGTYPE Operation against a key holding the wrong kind of value',
          'All keys in the pipeline should belong to the same slots allocation group',
        ]);
        // One breaker for the cluster — none per node, whichever nodes served the commands.
        expect((await driver.call({ op: 'dependencies' })).names).toEqual([
          `redis:127.0.0.1:${cluster.ports[0]}/0`,
        ]);
      } finally {
        for (let i = 0; i < 12; i++) await driver.cmd('c', 'del', `${prefix}k${i}`);
        await driver.cmd('c', 'del', `${prefix}{tag}a`, `${prefix}{tag}b`, `${prefix}{tag}n`);
        await driver.stop();
      }
    },
  );

  it('rejects commands, pipelines, transactions and auto-pipelined commands while its breaker is open', async () => {
    const driver = await connect('apps/ioredis-driver.cjs', 'require');
    const dependency = `redis:127.0.0.1:${cluster.ports[0]}/0`;
    try {
      await driver.cmd('c', 'set', `${prefix}open`, 'v');
      expect(await driver.call({ op: 'force-open', name: dependency })).toEqual(
        expect.objectContaining({ ok: true }),
      );
      const rejected = [
        await driver.cmd('c', 'get', `${prefix}open`),
        await driver.call({ op: 'callback', client: 'c', command: 'get', args: [`${prefix}open`] }),
        await driver.call({
          op: 'batch',
          client: 'c',
          commands: [['get', `${prefix}open`]],
          callbacks: true,
        }),
        await driver.call({
          op: 'batch',
          client: 'c',
          commands: [['get', `${prefix}open`]],
          multi: true,
        }),
        await driver.cmd('auto', 'get', `${prefix}open`),
      ];
      for (const result of rejected) {
        expect(result).toMatchObject({
          ok: false,
          error: { code: 'BALDUR_CIRCUIT_OPEN', dependency },
        });
      }
      expect(rejected[2]!.perCommand).toEqual([
        expect.objectContaining({ code: 'BALDUR_CIRCUIT_OPEN' }),
      ]);
      await driver.call({ op: 'reset', name: dependency });
      expect(await driver.cmd('auto', 'get', `${prefix}open`)).toMatchObject({
        ok: true,
        value: 'v',
      });
      expect(await driver.cmd('c', 'del', `${prefix}open`)).toMatchObject({ ok: true, value: 1 });
    } finally {
      await driver.stop();
    }
  });
});
