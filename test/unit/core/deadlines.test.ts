import { describe, expect, it } from 'vitest';
import { DeadlineEntry, Deadlines } from '../../../src/core/deadlines';
import { FakeClock } from '../../support/fake-clock';

/** An entry that logs `name@time` when it fires. */
class Probe extends DeadlineEntry {
  constructor(
    private readonly name: string,
    private readonly clock: FakeClock,
    private readonly log: string[],
  ) {
    super();
  }

  onDeadline(): void {
    this.log.push(`${this.name}@${this.clock.monoMs()}`);
  }
}

function setup() {
  const clock = new FakeClock(0);
  const deadlines = new Deadlines(clock);
  const log: string[] = [];
  const probe = (name: string) => new Probe(name, clock, log);
  return { clock, deadlines, log, probe };
}

describe('Deadlines', () => {
  // A lane's tick is 1/64 of its duration (at least 1 ms): entries that start within one tick
  // share a due time, set when the tick closes. 100 ms and 50 ms lanes tick every 1 ms.
  it('fires each entry one tick after its duration, in order, across lanes', () => {
    const { clock, deadlines, log, probe } = setup();
    deadlines.schedule(probe('a'), 100);
    clock.advance(10);
    deadlines.schedule(probe('b'), 100);
    deadlines.schedule(probe('c'), 50);
    clock.advance(20);
    deadlines.schedule(probe('d'), 100);
    clock.advance(200);
    expect(log).toEqual(['c@61', 'a@101', 'b@111', 'd@131']);
  });

  it('never fires early: an entry that starts just before its batch closes gets its whole duration', () => {
    const { clock, deadlines, log, probe } = setup();
    deadlines.schedule(probe('first'), 6_400); // tick 100 ms: the batch closes at 100
    clock.advance(99.9);
    deadlines.schedule(probe('last'), 6_400);
    clock.advance(6_400); // now 6_499.9: 'last' started 6_400 ago, the batch is due at 6_500
    expect(log).toEqual([]);
    clock.advance(0.1);
    expect(log).toEqual(['first@6500', 'last@6500']);
  });

  it('is late by at most one tick, which grows with the duration up to one second', () => {
    const lateness = (durationMs: number): number => {
      const { clock, deadlines, log, probe } = setup();
      deadlines.schedule(probe('x'), durationMs);
      clock.advance(durationMs * 2);
      return Number(log[0]!.split('@')[1]) - durationMs;
    };
    expect(lateness(10)).toBe(1);
    expect(lateness(250)).toBe(3);
    expect(lateness(10_000)).toBe(156);
    expect(lateness(600_000)).toBe(1_000);
  });

  it('reads the clock once per batch and per timer, not per entry', () => {
    const { clock, deadlines, probe } = setup();
    let reads = 0;
    const monoMs = clock.monoMs.bind(clock);
    clock.monoMs = () => {
      reads++;
      return monoMs();
    };
    const entries = Array.from({ length: 1_000 }, (_, i) => probe(`x${i}`));
    for (const entry of entries) deadlines.schedule(entry, 10_000);
    for (const entry of entries) deadlines.cancel(entry);
    expect(reads).toBeLessThanOrEqual(2); // opening the batch, arming its timer
  });

  it('shares one timer per lane (duration), and none once the lane is idle', () => {
    const { clock, deadlines, probe } = setup();
    const entries = [];
    for (let i = 0; i < 1_000; i++) {
      const entry = probe(`x${i}`);
      entries.push(entry);
      deadlines.schedule(entry, 250);
      clock.advance(0.1);
    }
    expect(clock.pendingTimers).toBe(1);
    for (const entry of entries) deadlines.cancel(entry);
    clock.advance(1_000);
    expect(clock.pendingTimers).toBe(0);
  });

  it('a cancelled entry never fires, wherever it sits in its lane', () => {
    const { clock, deadlines, log, probe } = setup();
    const entries = ['a', 'b', 'c', 'd'].map(name => {
      const entry = probe(name);
      deadlines.schedule(entry, 100);
      clock.advance(10);
      return entry;
    });
    deadlines.cancel(entries[1]!); // middle
    deadlines.cancel(entries[3]!); // tail
    clock.advance(1_000);
    expect(log).toEqual(['a@101', 'c@121']);
  });

  it('re-arms the lane for the next entry after its head was cancelled', () => {
    const { clock, deadlines, log, probe } = setup();
    const head = probe('head');
    deadlines.schedule(head, 100);
    clock.advance(30);
    deadlines.schedule(probe('next'), 100);
    deadlines.cancel(head);
    clock.advance(71); // the head's timer fires at 101 with nothing due
    expect(log).toEqual([]);
    clock.advance(29);
    expect(log).toEqual([]);
    clock.advance(1);
    expect(log).toEqual(['next@131']);
    expect(clock.pendingTimers).toBe(0);
  });

  it('a lane emptied by cancellation still serves later entries', () => {
    const { clock, deadlines, log, probe } = setup();
    const only = probe('gone');
    deadlines.schedule(only, 100);
    deadlines.cancel(only);
    clock.advance(50);
    deadlines.schedule(probe('late'), 100);
    clock.advance(200);
    expect(log).toEqual(['late@151']);
  });

  it('cancelling is idempotent and harmless after firing', () => {
    const { clock, deadlines, log, probe } = setup();
    const a = probe('a');
    const b = probe('b');
    deadlines.schedule(a, 10);
    deadlines.schedule(b, 10);
    clock.advance(11);
    deadlines.cancel(a);
    deadlines.cancel(a);
    const c = probe('c');
    deadlines.schedule(c, 10);
    deadlines.cancel(c);
    deadlines.cancel(c);
    clock.advance(100);
    expect(log).toEqual(['a@11', 'b@11']);
  });

  it('cancel cost does not depend on how many entries wait (O(1) unlink)', () => {
    const { clock, deadlines, log, probe } = setup();
    const entries = Array.from({ length: 10_000 }, (_, i) => probe(`e${i}`));
    for (const entry of entries) deadlines.schedule(entry, 1_000);
    // Cancelling an entry touches only its neighbours: the rest of the lane is untouched.
    const victim = entries[5_000]!;
    const before = victim.prev;
    const after = victim.next;
    deadlines.cancel(victim);
    expect(before!.next).toBe(after);
    expect(after!.prev).toBe(before);
    expect(victim.prev).toBeUndefined();
    expect(victim.next).toBeUndefined();
    expect(victim.batch).toBeUndefined();
    for (let i = 1; i < entries.length; i += 2) deadlines.cancel(entries[i]!);
    clock.advance(1_015);
    expect(log).toHaveLength(10_000 / 2 - 1);
    expect(log).not.toContain('e5000@1015');
  });

  it('beyond 64 distinct durations, entries get their own timers and fire exactly on time', () => {
    const { clock, deadlines, log, probe } = setup();
    for (let d = 1; d <= 64; d++) deadlines.schedule(probe(`lane${d}`), d * 10);
    expect(clock.pendingTimers).toBe(64);
    const own = probe('own');
    deadlines.schedule(own, 5_000);
    const ownCancelled = probe('own-cancelled');
    deadlines.schedule(ownCancelled, 6_000);
    expect(clock.pendingTimers).toBe(66);
    expect(own.batch).toBeUndefined();
    deadlines.cancel(ownCancelled);
    expect(clock.pendingTimers).toBe(65);
    clock.advance(10_000);
    expect(log).toHaveLength(65);
    expect(log.at(-1)).toBe('own@5000');
    // A duration that already has a lane still uses it.
    deadlines.schedule(probe('shared'), 10);
    expect(probe('x').batch).toBeUndefined();
    clock.advance(11);
    expect(log.at(-1)).toBe('shared@10011');
  });

  it('fractional durations are rounded to the millisecond lane', () => {
    const { clock, deadlines, log, probe } = setup();
    deadlines.schedule(probe('a'), 99.6);
    deadlines.schedule(probe('b'), 100.4);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(101);
    expect(log).toEqual(['a@101', 'b@101']);
  });

  it('an entry scheduled from a firing deadline fires at its own time', () => {
    const { clock, deadlines, log } = setup();
    class Chain extends DeadlineEntry {
      constructor(private readonly left: number) {
        super();
      }
      onDeadline(): void {
        log.push(`chain${this.left}@${clock.monoMs()}`);
        if (this.left > 0) deadlines.schedule(new Chain(this.left - 1), 100);
      }
    }
    deadlines.schedule(new Chain(2), 100);
    clock.advance(1_000);
    expect(log).toEqual(['chain2@101', 'chain1@202', 'chain0@303']);
  });
});
