import type { Clock, TimerHandle } from '../../src/core/clock';

interface FakeTimer extends TimerHandle {
  readonly id: number;
  dueMs: number;
  callback: () => void;
  cancelled: boolean;
}

/**
 * A manual clock: time moves only when a test calls `advance`, which fires due
 * timers in order (a timer scheduled by a firing timer fires in the same advance
 * if it falls inside the window). `advanceAsync` also lets promise callbacks run
 * between timers, which is what code awaiting timers needs.
 */
export class FakeClock implements Clock {
  private nowMs: number;
  private readonly wallOffsetMs: number;
  private timers: FakeTimer[] = [];
  private nextId = 1;

  constructor(startMs = 1_000, wallStartMs = Date.UTC(2026, 0, 1)) {
    this.nowMs = startMs;
    this.wallOffsetMs = wallStartMs - startMs;
  }

  monoMs(): number {
    return this.nowMs;
  }

  wallMs(): number {
    return this.nowMs + this.wallOffsetMs;
  }

  setTimer(callback: () => void, delayMs: number): TimerHandle {
    const timer: FakeTimer = {
      id: this.nextId++,
      dueMs: this.nowMs + Math.max(0, delayMs),
      callback,
      cancelled: false,
      unref: () => timer,
    };
    this.timers.push(timer);
    return timer;
  }

  clearTimer(handle: TimerHandle): void {
    (handle as FakeTimer).cancelled = true;
    this.timers = this.timers.filter(t => t !== handle);
  }

  /** Timers still waiting. */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Move time forward synchronously, firing due timers in due order. */
  advance(ms: number): void {
    const target = this.nowMs + ms;
    for (;;) {
      const next = this.nextDue(target);
      if (next === undefined) break;
      this.fire(next);
    }
    this.nowMs = target;
  }

  /** Like `advance`, but drains promise callbacks before and after each timer. */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.nowMs + ms;
    await flushPromises();
    for (;;) {
      const next = this.nextDue(target);
      if (next === undefined) break;
      this.fire(next);
      await flushPromises();
    }
    this.nowMs = target;
    await flushPromises();
  }

  private nextDue(target: number): FakeTimer | undefined {
    let next: FakeTimer | undefined;
    for (const timer of this.timers) {
      if (
        timer.dueMs <= target &&
        (next === undefined ||
          timer.dueMs < next.dueMs ||
          (timer.dueMs === next.dueMs && timer.id < next.id))
      ) {
        next = timer;
      }
    }
    return next;
  }

  private fire(timer: FakeTimer): void {
    this.timers = this.timers.filter(t => t !== timer);
    this.nowMs = Math.max(this.nowMs, timer.dueMs);
    timer.callback();
  }
}

/** Let every queued promise callback run (several macrotask-free turns). */
export async function flushPromises(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise<void>(resolve => setImmediate(resolve));
}
