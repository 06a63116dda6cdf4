import type { Clock, TimerHandle } from './clock';

/**
 * Something waiting for a deadline. Entries double as list nodes so that a
 * deadline costs one object per call and O(1) to arm and cancel.
 */
export abstract class DeadlineEntry {
  /** Monotonic time at which `onDeadline` fires. */
  dueMs = 0;
  prev: DeadlineEntry | undefined = undefined;
  next: DeadlineEntry | undefined = undefined;
  lane: Lane | undefined = undefined;
  timer: TimerHandle | undefined = undefined;

  abstract onDeadline(): void;
}

/**
 * All entries of one lane share a duration, so they are due in insertion order:
 * a doubly linked FIFO with a single timer armed for its head. Calls that finish
 * early unlink themselves; the timer is re-armed lazily when it fires early.
 */
class Lane {
  head: DeadlineEntry | undefined = undefined;
  tail: DeadlineEntry | undefined = undefined;
  private timer: TimerHandle | undefined = undefined;

  constructor(private readonly clock: Clock) {}

  push(entry: DeadlineEntry): void {
    entry.lane = this;
    entry.prev = this.tail;
    entry.next = undefined;
    if (this.tail === undefined) this.head = entry;
    else this.tail.next = entry;
    this.tail = entry;
    if (this.timer === undefined) this.arm(entry.dueMs);
  }

  unlink(entry: DeadlineEntry): void {
    if (entry.prev === undefined) this.head = entry.next;
    else entry.prev.next = entry.next;
    if (entry.next === undefined) this.tail = entry.prev;
    else entry.next.prev = entry.prev;
    entry.prev = entry.next = entry.lane = undefined;
  }

  private arm(dueMs: number): void {
    // Unref'd: a lane timer left armed after the last call must not keep the process alive.
    // The work a deadline guards holds the process open by itself when it is real I/O.
    this.timer = this.clock.setTimer(() => this.fire(), Math.max(0, dueMs - this.clock.monoMs()));
    this.timer.unref?.();
  }

  private fire(): void {
    this.timer = undefined;
    const now = this.clock.monoMs();
    // Timers may fire up to a millisecond early relative to performance.now(); treat that as due.
    while (this.head !== undefined && this.head.dueMs <= now + 1) {
      const entry = this.head;
      this.unlink(entry);
      entry.onDeadline();
    }
    if (this.head !== undefined) this.arm(this.head.dueMs);
  }
}

const MAX_LANES = 64;

/**
 * Cheap deadlines for the hot path. Durations seen repeatedly (a dependency's
 * configured timeout) share a lane; beyond `MAX_LANES` distinct durations each
 * deadline gets its own timer.
 */
export class Deadlines {
  private readonly lanes = new Map<number, Lane>();
  /** Most pipelines use one timeout: remember the last lane to skip the map lookup. */
  private lastDuration = -1;
  private lastLane: Lane | undefined = undefined;

  constructor(private readonly clock: Clock) {}

  /**
   * Arm `entry` to fire `durationMs` after `nowMs` (pass the caller's own clock
   * read when it has one: a clock read costs about as much as the rest of this).
   */
  schedule(entry: DeadlineEntry, durationMs: number, nowMs: number = this.clock.monoMs()): void {
    const duration = Math.max(0, Math.round(durationMs));
    entry.dueMs = nowMs + duration;
    let lane = duration === this.lastDuration ? this.lastLane : this.lanes.get(duration);
    if (lane === undefined && this.lanes.size < MAX_LANES) {
      lane = new Lane(this.clock);
      this.lanes.set(duration, lane);
    }
    if (lane !== undefined) {
      this.lastDuration = duration;
      this.lastLane = lane;
      lane.push(entry);
      return;
    }
    entry.timer = this.clock.setTimer(() => {
      entry.timer = undefined;
      entry.onDeadline();
    }, duration);
    entry.timer.unref?.();
  }

  cancel(entry: DeadlineEntry): void {
    if (entry.lane !== undefined) entry.lane.unlink(entry);
    else if (entry.timer !== undefined) {
      this.clock.clearTimer(entry.timer);
      entry.timer = undefined;
    }
  }
}
