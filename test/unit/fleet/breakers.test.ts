import { afterEach, describe, expect, it } from 'vitest';
import type { BreakerStateChangeEvent } from '../../../src/core/events';
import { FLEET_CHANNEL, TRANSITIONS_COLLECTION, breakerKey } from '../../../src/fleet/names';
import { breakerCodec, transitionCodec } from '../../../src/fleet/records';
import { attempt, failing, fleet, succeeding } from './fleet-harness';

type Fleet = ReturnType<typeof fleet>;
let current: Fleet | undefined;

function start(size: number, options?: Parameters<typeof fleet>[1]): Fleet {
  current = fleet(size, options);
  return current;
}

afterEach(async () => {
  await current?.close();
  current = undefined;
});

const states = (f: Fleet): string[] =>
  f.workers.map(w => w.pipeline().status().circuitBreaker!.state);

async function openOnFirst(f: Fleet): Promise<void> {
  const first = f.workers[0]!.pipeline();
  await attempt(first, failing);
  await attempt(first, failing);
  await f.settle();
}

/**
 * Calls on every worker in turn, `rounds` times, without waiting for them to
 * finish (a probe may stay pending); counts those that reached the callee.
 */
async function probeRound(f: Fleet, rounds: number, callee: () => Promise<unknown>) {
  let reached = 0;
  const outcomes: Promise<string>[] = [];
  const counted = () => {
    reached++;
    return callee();
  };
  for (let round = 0; round < rounds; round++) {
    for (const worker of f.workers) outcomes.push(attempt(worker.pipeline(), counted));
    await f.settle();
  }
  return { reached, outcomes };
}

describe('fleet breakers', () => {
  it("one worker's failures open the breaker on every worker", async () => {
    const f = start(3);
    f.workers.forEach(w => w.pipeline());
    await f.settle();
    await openOnFirst(f);
    expect(states(f)).toEqual(['open', 'open', 'open']);
    const adopted = f.workers[1]!.events.filter(
      (e): e is BreakerStateChangeEvent => e.type === 'circuit_breaker.state_change',
    );
    expect(adopted).toMatchObject([{ from: 'closed', to: 'open', reason: 'remote' }]);
    // Peers reject with the remaining recovery time.
    expect(await attempt(f.workers[2]!.pipeline(), succeeding)).toBe('BALDUR_CIRCUIT_OPEN');
  });

  it('stores the state and appends the transition to the history', async () => {
    const f = start(2);
    f.workers.forEach(w => w.pipeline());
    await openOnFirst(f);
    const stored = await f.memory.get(breakerKey('dep'));
    const record = breakerCodec.decode(stored!.value);
    expect(record).toMatchObject({
      ok: true,
      value: { state: 'open', epoch: 1, reason: 'consecutive_failures', by: 'w0' },
    });
    const history = await f.memory.listRecords(TRANSITIONS_COLLECTION, { limit: 10 });
    expect(history.map(r => transitionCodec.decode(r.value))).toMatchObject([
      { ok: true, value: { dependency: 'dep', from: 'closed', to: 'open', epoch: 1 } },
    ]);
  });

  it('half-open probes are exact across the fleet, and recovery closes every worker', async () => {
    const f = start(4);
    f.workers.forEach(w => w.pipeline());
    await openOnFirst(f);
    await f.settle(1_000);
    // Probes stay pending so that none completes (and closes) while the others ask.
    const pending: (() => void)[] = [];
    const hanging = () => new Promise<string>(resolve => pending.push(() => resolve('ok')));
    const { reached } = await probeRound(f, 3, hanging);
    expect(reached).toBe(2); // halfOpenMaxCalls, fleet-wide
    pending.forEach(resolve => resolve());
    await f.settle();
    expect(states(f)).toEqual(['closed', 'closed', 'closed', 'closed']);
    const history = await f.memory.listRecords(TRANSITIONS_COLLECTION, { limit: 10 });
    expect(history.map(r => transitionCodec.decode(r.value))).toMatchObject([
      { value: { from: 'half_open', to: 'closed', reason: 'probes_succeeded' } },
      { value: { from: 'open', to: 'half_open' } },
      { value: { from: 'closed', to: 'open' } },
    ]);
  }, 10_000);

  it('a failed probe re-opens every worker with the next epoch', async () => {
    const f = start(3);
    f.workers.forEach(w => w.pipeline());
    await openOnFirst(f);
    await f.settle(1_000);
    const { reached } = await probeRound(f, 3, failing);
    expect(reached).toBeLessThanOrEqual(2); // the granted probes, then the fleet is open again
    expect(states(f)).toEqual(['open', 'open', 'open']);
    const record = breakerCodec.decode((await f.memory.get(breakerKey('dep')))!.value);
    expect(record).toMatchObject({ value: { state: 'open', epoch: 2, reason: 'probe_failed' } });
  });

  it('a slot granted to a worker without traffic is handed back to another', async () => {
    const f = start(2, {
      policy: {
        circuitBreaker: {
          failureThreshold: 2,
          failureRateThreshold: 0,
          recoveryTimeout: '1s',
          halfOpenMaxCalls: 1,
          successThreshold: 1,
        },
      },
    });
    const [a, b] = f.workers.map(w => w.pipeline());
    await openOnFirst(f);
    await f.settle(1_000);
    expect(await attempt(a!, succeeding)).toBe('BALDUR_CIRCUIT_OPEN'); // asked for the only slot
    await f.settle();
    expect(await attempt(b!, succeeding)).toBe('BALDUR_CIRCUIT_OPEN'); // none left
    await f.settle(1_000); // a never used its slot: handed back
    await attempt(b!, succeeding); // b asks again …
    await f.settle();
    expect(await attempt(b!, succeeding)).toBe('ok'); // … gets it, probes and closes the fleet
    await f.settle();
    expect(states(f)).toEqual(['closed', 'closed']);
  });

  it('a worker started later adopts the open breaker', async () => {
    const f = start(2);
    f.workers.forEach(w => w.pipeline());
    await openOnFirst(f);
    const late = f.add('late');
    late.pipeline();
    await f.settle();
    expect(late.pipeline().status().circuitBreaker!.state).toBe('open');
  });

  it('forced states apply everywhere and still expire; a reset closes everywhere', async () => {
    const f = start(3);
    f.workers.forEach(w => w.pipeline());
    await f.settle();
    f.workers[1]!.engine.forceOpen('dep', 5_000);
    await f.settle();
    expect(states(f)).toEqual(['forced_open', 'forced_open', 'forced_open']);
    await f.settle(5_000);
    expect(states(f)).toEqual(['closed', 'closed', 'closed']);

    f.workers[0]!.engine.forceOpen('dep', 60_000);
    await f.settle();
    f.workers[2]!.engine.resetBreaker('dep');
    await f.settle();
    expect(states(f)).toEqual(['closed', 'closed', 'closed']);
  });

  it('an operator can force a breaker fleet-wide from an instance without that dependency', async () => {
    const f = start(3);
    f.workers.slice(1).forEach(w => w.pipeline());
    await f.settle();
    const admin = f.workers[0]!.engine.fleet!;
    expect(f.workers[0]!.engine.find('dep')).toBeUndefined();
    await expect(admin.forceBreaker('dep', 'forced_open', 10_000)).resolves.toBe(true);
    await f.settle();
    expect(states(f).slice(1)).toEqual(['forced_open', 'forced_open']);
    const history = await f.memory.listRecords(TRANSITIONS_COLLECTION, { limit: 1 });
    expect(transitionCodec.decode(history[0]!.value)).toMatchObject({
      value: { from: 'closed', to: 'forced_open', reason: 'forced', by: 'w0' },
    });
    await expect(admin.forceBreaker('dep', 'closed')).resolves.toBe(true);
    await f.settle();
    expect(states(f).slice(1)).toEqual(['closed', 'closed']);
    // Later, the admin instance's own pipeline starts closed too.
    expect(f.workers[0]!.pipeline().status().circuitBreaker!.state).toBe('closed');
  });

  it("an automatic verdict does not override an operator's forced state", async () => {
    const f = start(2);
    f.workers.forEach(w => w.pipeline());
    await f.settle();
    f.workers[0]!.engine.forceClose('dep', 60_000);
    await f.settle();
    // A peer's record says open (it missed the force, say): the forced state stands.
    await f.memory.set(
      breakerKey('dep'),
      breakerCodec.encode({
        dependency: 'dep',
        state: 'open',
        epoch: 99,
        untilWallMs: f.clock.wallMs() + 10_000,
        reason: 'consecutive_failures',
        by: 'elsewhere',
        atWallMs: f.clock.wallMs(),
      }),
    );
    await f.workers[1]!.engine.fleet!.reconcile();
    expect(states(f)).toEqual(['forced_closed', 'forced_closed']);
  });

  it('reconciliation heals a missed message', async () => {
    const f = start(2);
    f.workers.forEach(w => w.pipeline());
    await f.settle();
    // A transition stored by a worker whose message never arrived.
    await f.memory.set(
      breakerKey('dep'),
      breakerCodec.encode({
        dependency: 'dep',
        state: 'open',
        epoch: 7,
        untilWallMs: f.clock.wallMs() + 30_000,
        reason: 'failure_rate',
        by: 'elsewhere',
        atWallMs: f.clock.wallMs(),
      }),
    );
    await f.memory.increment('fleet-sequence', 1, 60_000);
    await f.settle(1_000); // one reconciliation period
    expect(states(f)).toEqual(['open', 'open']);
  });

  it('a subscription that went silent is made again', async () => {
    const f = start(2);
    f.workers.forEach(w => w.pipeline());
    await f.settle(1_000);
    const channel = (
      f.workers[1]!.engine.fleet as unknown as { channel: { subscription?: object } }
    ).channel;
    const dead = channel.subscription as { unsubscribe(): Promise<void> };
    await dead.unsubscribe(); // the store forgot it; the fleet layer does not know
    for (let i = 0; i < 2; i++) {
      f.workers[0]!.engine.forceOpen('dep', 5_000 + i);
      await f.settle(1_000); // healed by reconciliation meanwhile
    }
    expect(channel.subscription).not.toBe(dead);
    f.workers[0]!.engine.resetBreaker('dep');
    await f.settle(); // no reconciliation period: the message arrives
    expect(states(f)).toEqual(['closed', 'closed']);
  });

  it('unreadable records and messages are reported and ignored', async () => {
    const f = start(2);
    f.workers.forEach(w => w.pipeline());
    await f.settle();
    await f.memory.set(breakerKey('dep'), '{"v":99,"state":"open"}');
    await f.memory.publish(FLEET_CHANNEL, 'not json');
    await f.memory.publish(
      FLEET_CHANNEL,
      JSON.stringify({ v: 1, type: 'breaker', from: 'x', body: { v: 1, state: 'nope' } }),
    );
    await f.workers[0]!.engine.fleet!.reconcile();
    await f.settle();
    expect(states(f)).toEqual(['closed', 'closed']);
    const logs = f.workers[0]!.logs.join('\n');
    expect(logs).toContain('unreadable breaker value');
    expect(logs).toContain('unreadable fleet-message value: not valid JSON');
    // The next transition overwrites the unreadable record.
    await openOnFirst(f);
    expect(states(f)).toEqual(['open', 'open']);
  });

  it('while the store is down, breakers decide locally; afterwards the transition is shared', async () => {
    const f = start(2);
    const [a, b] = f.workers.map(w => w.pipeline());
    await f.settle();
    f.availability = 'down';
    await attempt(a!, failing);
    await attempt(a!, failing);
    await f.settle();
    expect(states(f)).toEqual(['open', 'closed']);
    // Half-open without the store: at most halfOpenMaxCalls probes from this worker, counted locally.
    await f.settle(1_000);
    expect(await attempt(a!, failing)).toBe('failed');
    expect(states(f)).toEqual(['open', 'closed']);
    f.availability = 'up';
    await f.settle(1_500); // the store's probe finds it back: resync
    await f.settle();
    expect(states(f)).toEqual(['open', 'open']);
    expect(await attempt(b!, succeeding)).toBe('BALDUR_CIRCUIT_OPEN');
  });
});
