import { describe, expect, it } from 'vitest';
import { Deadlines } from '../../../src/core/deadlines';
import { Bulkhead } from '../../../src/core/policies/bulkhead/bulkhead';
import type { BulkheadOptions } from '../../../src/core/policies/bulkhead/options';
import { FakeClock, flushPromises } from '../../support/fake-clock';

function setup(options: BulkheadOptions) {
  const clock = new FakeClock();
  const bulkhead = new Bulkhead(options, new Deadlines(clock));
  return { clock, bulkhead };
}

/** Enqueue and record how the wait settles. */
function wait(bulkhead: Bulkhead, log: string[], name: string): void {
  bulkhead.enqueue().then(
    () => log.push(`${name}:slot`),
    () => log.push(`${name}:timeout`),
  );
}

describe('Bulkhead', () => {
  it('admits up to maxConcurrent at once', () => {
    const { bulkhead } = setup({ maxConcurrent: 3, maxQueue: 0, queueTimeoutMs: 0 });
    expect([1, 2, 3, 4].map(() => bulkhead.tryEnter())).toEqual([true, true, true, false]);
    expect(bulkhead.active).toBe(3);
    bulkhead.leave();
    expect(bulkhead.active).toBe(2);
    expect(bulkhead.tryEnter()).toBe(true);
  });

  it('says whether the queue has room', () => {
    const { bulkhead } = setup({ maxConcurrent: 1, maxQueue: 2, queueTimeoutMs: 0 });
    bulkhead.tryEnter();
    expect(bulkhead.canQueue).toBe(true);
    void bulkhead.enqueue();
    void bulkhead.enqueue();
    expect(bulkhead.queued).toBe(2);
    expect(bulkhead.canQueue).toBe(false);
  });

  it('hands freed slots to waiters in FIFO order', async () => {
    const { bulkhead } = setup({ maxConcurrent: 2, maxQueue: 10, queueTimeoutMs: 0 });
    bulkhead.tryEnter();
    bulkhead.tryEnter();
    const log: string[] = [];
    for (const name of ['a', 'b', 'c']) wait(bulkhead, log, name);
    bulkhead.leave();
    await flushPromises();
    expect(log).toEqual(['a:slot']);
    expect(bulkhead.active).toBe(2); // the slot passed straight to `a`
    bulkhead.leave();
    bulkhead.leave();
    await flushPromises();
    expect(log).toEqual(['a:slot', 'b:slot', 'c:slot']);
    expect(bulkhead.queued).toBe(0);
    expect(bulkhead.active).toBe(2);
  });

  it('a newcomer never overtakes a waiter, even when a slot is momentarily free', async () => {
    const { bulkhead } = setup({ maxConcurrent: 1, maxQueue: 10, queueTimeoutMs: 0 });
    bulkhead.tryEnter();
    const log: string[] = [];
    wait(bulkhead, log, 'waiter');
    bulkhead.leave(); // the slot is handed to the waiter, whose continuation has not run yet
    expect(bulkhead.tryEnter()).toBe(false);
    await flushPromises();
    expect(log).toEqual(['waiter:slot']);
    expect(bulkhead.active).toBe(1);
  });

  it('a waiter that times out is rejected and frees its queue slot', async () => {
    const { clock, bulkhead } = setup({ maxConcurrent: 1, maxQueue: 1, queueTimeoutMs: 500 });
    bulkhead.tryEnter();
    const log: string[] = [];
    wait(bulkhead, log, 'a');
    expect(bulkhead.canQueue).toBe(false);
    await clock.advanceAsync(500);
    expect(log).toEqual([]); // never early; a 500 ms deadline fires within its 7 ms tick
    await clock.advanceAsync(7);
    expect(log).toEqual(['a:timeout']);
    expect(bulkhead.queued).toBe(0);
    expect(bulkhead.canQueue).toBe(true);
    expect(bulkhead.active).toBe(1); // the timed-out waiter never held a slot
    wait(bulkhead, log, 'b');
    bulkhead.leave();
    await flushPromises();
    expect(log).toEqual(['a:timeout', 'b:slot']);
  });

  it('a timed-out waiter in the middle of the queue keeps the order of the rest', async () => {
    const { clock, bulkhead } = setup({ maxConcurrent: 1, maxQueue: 10, queueTimeoutMs: 1_000 });
    bulkhead.tryEnter();
    const log: string[] = [];
    wait(bulkhead, log, 'a');
    await clock.advanceAsync(400);
    wait(bulkhead, log, 'b');
    await clock.advanceAsync(400);
    wait(bulkhead, log, 'c');
    bulkhead.leave(); // a gets it at t=800
    await clock.advanceAsync(600); // t=1400: b (queued at 400) is due, within its 15 ms tick
    expect(log).toEqual(['a:slot']);
    await clock.advanceAsync(15);
    expect(log).toEqual(['a:slot', 'b:timeout']);
    bulkhead.leave();
    await flushPromises();
    expect(log).toEqual(['a:slot', 'b:timeout', 'c:slot']);
    await clock.advanceAsync(10_000); // c's deadline was disarmed when it got its slot
    expect(log).toEqual(['a:slot', 'b:timeout', 'c:slot']);
    bulkhead.leave();
    expect(bulkhead.active).toBe(0);
    expect(bulkhead.queued).toBe(0);
  });

  it('a waiter handed a slot does not also time out', async () => {
    const { clock, bulkhead } = setup({ maxConcurrent: 1, maxQueue: 1, queueTimeoutMs: 100 });
    bulkhead.tryEnter();
    const log: string[] = [];
    wait(bulkhead, log, 'a');
    await clock.advanceAsync(99);
    bulkhead.leave();
    await clock.advanceAsync(1_000);
    expect(log).toEqual(['a:slot']);
    expect(clock.pendingTimers).toBeLessThanOrEqual(1); // at most the lane's lazily re-armed timer
  });

  it('queueTimeout 0 waits as long as it takes', async () => {
    const { clock, bulkhead } = setup({ maxConcurrent: 1, maxQueue: 1, queueTimeoutMs: 0 });
    bulkhead.tryEnter();
    const log: string[] = [];
    wait(bulkhead, log, 'a');
    await clock.advanceAsync(24 * 3_600_000);
    expect(log).toEqual([]);
    expect(clock.pendingTimers).toBe(0);
    bulkhead.leave();
    await flushPromises();
    expect(log).toEqual(['a:slot']);
  });
});
