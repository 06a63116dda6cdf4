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
  it('fires each entry at its deadline, in order, across lanes', () => {
    const { clock, deadlines, log, probe } = setup();
    deadlines.schedule(probe('a'), 100);
    clock.advance(10);
    deadlines.schedule(probe('b'), 100);
    deadlines.schedule(probe('c'), 50);
    clock.advance(20);
    deadlines.schedule(probe('d'), 100);
    clock.advance(200);
    expect(log).toEqual(['c@60', 'a@100', 'b@110', 'd@130']);
  });

  it('shares one timer per lane (duration)', () => {
    const { clock, deadlines, probe } = setup();
    for (let i = 0; i < 1_000; i++) {
      deadlines.schedule(probe(`x${i}`), 250);
      clock.advance(0.1);
    }
    expect(clock.pendingTimers).toBe(1);
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
    expect(log).toEqual(['a@100', 'c@120']);
  });

  it('re-arms the lane for the next entry after its head was cancelled', () => {
    const { clock, deadlines, log, probe } = setup();
    const head = probe('head');
    deadlines.schedule(head, 100);
    clock.advance(30);
    deadlines.schedule(probe('next'), 100);
    deadlines.cancel(head);
    clock.advance(70); // the head's timer fires at 100 with nothing due
    expect(log).toEqual([]);
    clock.advance(29);
    expect(log).toEqual([]);
    clock.advance(1);
    expect(log).toEqual(['next@130']);
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
    expect(log).toEqual(['late@150']);
  });

  it('cancelling is idempotent and harmless after firing', () => {
    const { clock, deadlines, log, probe } = setup();
    const a = probe('a');
    const b = probe('b');
    deadlines.schedule(a, 10);
    deadlines.schedule(b, 10);
    clock.advance(10);
    deadlines.cancel(a);
    deadlines.cancel(a);
    const c = probe('c');
    deadlines.schedule(c, 10);
    deadlines.cancel(c);
    deadlines.cancel(c);
    clock.advance(100);
    expect(log).toEqual(['a@10', 'b@10']);
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
    expect(victim.lane).toBeUndefined();
    for (let i = 1; i < entries.length; i += 2) deadlines.cancel(entries[i]!);
    clock.advance(1_000);
    expect(log).toHaveLength(10_000 / 2 - 1);
    expect(log).not.toContain('e5000@1000');
  });

  it('beyond 64 distinct durations, entries get their own timers and still fire on time', () => {
    const { clock, deadlines, log, probe } = setup();
    for (let d = 1; d <= 64; d++) deadlines.schedule(probe(`lane${d}`), d * 10);
    expect(clock.pendingTimers).toBe(64);
    const own = probe('own');
    deadlines.schedule(own, 5_000);
    const ownCancelled = probe('own-cancelled');
    deadlines.schedule(ownCancelled, 6_000);
    expect(clock.pendingTimers).toBe(66);
    expect(own.lane).toBeUndefined();
    deadlines.cancel(ownCancelled);
    expect(clock.pendingTimers).toBe(65);
    clock.advance(10_000);
    expect(log).toHaveLength(65);
    expect(log.at(-1)).toBe('own@5000');
    // A duration that already has a lane still uses it.
    deadlines.schedule(probe('shared'), 10);
    expect(probe('x').lane).toBeUndefined();
    clock.advance(10);
    expect(log.at(-1)).toBe('shared@10010');
  });

  it('fractional durations are rounded to the millisecond lane', () => {
    const { clock, deadlines, log, probe } = setup();
    deadlines.schedule(probe('a'), 99.6);
    deadlines.schedule(probe('b'), 100.4);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(100);
    expect(log).toEqual(['a@100', 'b@100']);
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
    expect(log).toEqual(['chain2@100', 'chain1@200', 'chain0@300']);
  });
});
