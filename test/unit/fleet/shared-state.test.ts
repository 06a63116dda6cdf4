import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load';
import { Engine } from '../../../src/engine/engine';
import { CONTROL_KEY, INSTANCES_COLLECTION, cooldownKey } from '../../../src/fleet/names';
import { controlCodec } from '../../../src/fleet/records';
import { attempt, fleet, succeeding } from './fleet-harness';
import { tooManyRequests } from '../core/pipeline-harness';

type Fleet = ReturnType<typeof fleet>;
let current: Fleet | undefined;

function start(size: number): Fleet {
  current = fleet(size, { policy: { circuitBreaker: false, cooldown: true } });
  return current;
}

afterEach(async () => {
  await current?.close();
  current = undefined;
});

const throttled = (seconds: string) => () => Promise.reject(tooManyRequests(seconds));

describe('fleet 429 cooldowns', () => {
  it('a cooldown installed by one worker turns every worker away, and only extends', async () => {
    const f = start(3);
    const [a, b, c] = f.workers.map(w => w.pipeline());
    await f.settle();
    expect(await attempt(a!, throttled('30'))).toBe('failed');
    await f.settle();
    expect(await attempt(b!, succeeding)).toBe('BALDUR_COOLDOWN');
    expect(c!.status().cooldownRemainingMs).toBeGreaterThan(29_000);
    expect(Number((await f.memory.get(cooldownKey('dep')))!.value)).toBe(f.clock.wallMs() + 30_000);

    // A shorter hint later does not cut it short, anywhere.
    await f.settle(10_000);
    const before = b!.status().cooldownRemainingMs;
    const d = f.workers[0]!.engine.pipeline('dep', () => a!.options); // same pipeline
    expect(d).toBe(a);
    await f.memory.publish(
      'fleet',
      JSON.stringify({
        v: 1,
        type: 'cooldown',
        from: 'elsewhere',
        body: { v: 1, dependency: 'dep', untilWallMs: f.clock.wallMs() + 1_000 },
      }),
    );
    await f.settle();
    expect(b!.status().cooldownRemainingMs).toBe(before);
    await f.settle(20_000);
    expect(await attempt(b!, succeeding)).toBe('ok');
  });

  it('a worker started during a cooldown honours it', async () => {
    const f = start(1);
    const a = f.workers[0]!.pipeline();
    await attempt(a, throttled('20'));
    await f.settle();
    const late = f.add('late');
    late.pipeline();
    await f.settle();
    expect(await attempt(late.pipeline(), succeeding)).toBe('BALDUR_COOLDOWN');
  });
});

describe('fleet kill switch and mode', () => {
  it('a change on one instance applies on every instance, and on instances started later', async () => {
    const f = start(3);
    await f.settle();
    f.workers[1]!.engine.setKillSwitch(true, 'incident 42');
    await f.settle();
    expect(f.workers.map(w => w.engine.controls.killSwitch)).toEqual([true, true, true]);
    expect(f.workers[2]!.engine.status().controlReason).toBe('incident 42');
    const late = f.add('late');
    await f.settle();
    expect(late.engine.controls.killSwitch).toBe(true);

    f.workers[0]!.engine.setMode('observe', 'dry run');
    await f.settle();
    expect(f.workers.map(w => w.engine.status().mode)).toEqual([
      'observe',
      'observe',
      'observe',
      'observe',
    ]);
    f.workers[2]!.engine.setKillSwitch(false, 'resolved');
    await f.settle();
    expect(f.workers.map(w => w.engine.controls.killSwitch)).toEqual([false, false, false, false]);
  });

  it('unreadable state means enabled: a shared kill switch is released while the store is down', async () => {
    const f = start(2);
    await f.settle();
    f.workers[0]!.engine.setKillSwitch(true, 'maintenance');
    await f.settle();
    expect(f.workers[1]!.engine.controls.killSwitch).toBe(true);
    f.availability = 'down';
    // Store calls fail until the store's breaker opens and announces the outage.
    for (let i = 0; i < 4; i++) await f.settle(1_000);
    expect(f.workers[1]!.engine.controls.killSwitch).toBe(false); // from the store: released
    expect(f.workers[0]!.engine.controls.killSwitch).toBe(true); // engaged here: stays
    f.availability = 'up';
    for (let i = 0; i < 3; i++) await f.settle(1_000);
    expect(f.workers[1]!.engine.controls.killSwitch).toBe(true); // readable again
  });

  it('an undecodable stored state means enabled', async () => {
    const f = start(2);
    await f.settle();
    f.workers[0]!.engine.setKillSwitch(true, 'maintenance');
    await f.settle();
    await f.memory.set(CONTROL_KEY, 'garbage');
    await f.workers[1]!.engine.fleet!.reconcile();
    expect(f.workers[1]!.engine.controls.killSwitch).toBe(false);
    expect(f.workers[1]!.logs.join('\n')).toContain('unreadable control value');
  });

  it('a change made while the store is down is written when it recovers, unless superseded', async () => {
    const f = start(2);
    await f.settle();
    f.availability = 'down';
    f.workers[0]!.engine.setKillSwitch(true, 'made during the outage');
    for (let i = 0; i < 3; i++) await f.settle(1_000);
    f.availability = 'up';
    for (let i = 0; i < 3; i++) await f.settle(1_000);
    const stored = controlCodec.decode((await f.memory.get(CONTROL_KEY))!.value);
    expect(stored).toMatchObject({ ok: true, value: { killSwitch: true, by: 'w0' } });
    expect(f.workers[1]!.engine.controls.killSwitch).toBe(true);
  });
});

describe('fleet instance snapshots', () => {
  it('every instance lists every live instance with its pipelines', async () => {
    const f = start(3);
    f.workers.forEach((w, i) => w.pipeline(`dep-${i}`));
    await f.settle(5_000); // one snapshot period
    const listed = await f.workers[2]!.engine.instances();
    expect(listed.map(s => s.instance.id)).toEqual(['w2', 'w0', 'w1']);
    expect(listed[1]!.pipelines.map(p => p.name)).toEqual(['dep-0']);
    expect(listed.every(s => s.store.kind === 'memory' && s.store.available)).toBe(true);
  });

  it('a departed instance disappears (removed at shutdown, or expired)', async () => {
    const f = start(3);
    await f.settle();
    await f.workers[0]!.engine.shutdown();
    expect((await f.workers[1]!.engine.instances()).map(s => s.instance.id)).toEqual(['w1', 'w2']);
    // w2 stops beating (its link is fine, but say it hangs): gone after 3 periods.
    await f.memory.addRecord(
      INSTANCES_COLLECTION,
      'ghost',
      JSON.stringify({
        v: 1,
        instance: { id: 'ghost', hostname: 'h', pid: 1, startedAtWallMs: 0 },
        atWallMs: f.clock.wallMs() - 60_000,
        ttlMs: 15_000,
        mode: 'enforce',
        killSwitch: false,
        store: { kind: 'redis', available: true },
        pipelines: [],
        omittedPipelines: 0,
      }),
      { maxRecords: 100 },
    );
    expect((await f.workers[1]!.engine.instances()).map(s => s.instance.id)).not.toContain('ghost');
  });

  it('without a shared store, lists this instance only', async () => {
    const { config } = loadConfig({ files: false });
    const engine = new Engine({ config });
    expect(engine.fleet).toBeUndefined();
    const listed = await engine.instances();
    expect(listed.map(s => s.instance.id)).toEqual([engine.instance.id]);
    await engine.shutdown();
  });

  it('estimates the number of live workers from the heartbeats', async () => {
    const f = start(4);
    await f.settle(5_000);
    await f.settle(5_000);
    expect(f.workers[0]!.engine.fleet!.estimatedWorkers).toBe(4);
  });
});
