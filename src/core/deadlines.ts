import type { Clock, TimerHandle } from './clock';

/**
 * Entries that started within one tick of their lane. They share a due time,
 * set when the tick closes — after every one of them started — so a deadline
 * never fires early, and arming one costs no clock read.
 */
class Batch {
  dueMs = Infinity;
  constructor(readonly lane: Lane) {}
}

/**
 * Something waiting for a deadline. Entries double as list nodes so that a
 * deadline costs one object per call and O(1) to arm and cancel.
 */
export abstract class DeadlineEntry {
  // Fields are declared and assigned in the constructor rather than initialized in the class
  // body: entries are built once per timed call, and class-field initializers would add a
  // define-then-assign per field to that.
  /** The batch (and through it the lane) the entry waits in; undefined when it has its own timer or none. */
  declare batch: Batch | undefined;
  declare prev: DeadlineEntry | undefined;
  declare next: DeadlineEntry | undefined;
  declare timer: TimerHandle | undefined;

  constructor() {
    this.batch = undefined;
    this.prev = undefined;
    this.next = undefined;
    this.timer = undefined;
  }

  abstract onDeadline(): void;
}

/** A lane's tick: 1/64 of its duration, between 1 ms and 1 s. */
function laneTickMs(durationMs: number): number {
  return Math.min(1_000, Math.max(1, Math.floor(durationMs / 64)));
}

/**
 * All entries of one lane share a duration, so they are due in insertion order:
 * a doubly linked FIFO with a single timer. Reading the clock for every entry
 * would cost about as much as the rest of a fast call, so entries join the open
 * batch instead; the lane's timer closes it within a tick (one clock read) and
 * the batch is due `duration` after that. A deadline therefore fires no earlier
 * than its duration and at most one tick later (plus the event loop's own lag).
 * The clock is read once per batch and per timer, not per entry; the timer runs
 * only while entries wait.
 */
class Lane {
  head: DeadlineEntry | undefined = undefined;
  tail: DeadlineEntry | undefined = undefined;
  private open = new Batch(this);
  private openIsEmpty = true;
  private timer: TimerHandle | undefined = undefined;
  private timerDueMs = Infinity;
  private readonly tickMs: number;

  constructor(
    private readonly clock: Clock,
    private readonly durationMs: number,
  ) {
    this.tickMs = laneTickMs(durationMs);
  }

  push(entry: DeadlineEntry): void {
    entry.batch = this.open;
    entry.prev = this.tail;
    entry.next = undefined;
    if (this.tail === undefined) this.head = entry;
    else this.tail.next = entry;
    this.tail = entry;
    if (this.openIsEmpty) {
      this.openIsEmpty = false;
      this.armBy(this.clock.monoMs() + this.tickMs);
    }
  }

  unlink(entry: DeadlineEntry): void {
    if (entry.prev === undefined) this.head = entry.next;
    else entry.prev.next = entry.next;
    if (entry.next === undefined) this.tail = entry.prev;
    else entry.next.prev = entry.prev;
    entry.prev = entry.next = entry.batch = undefined;
  }

  /** Make sure the timer fires no later than `dueMs`. */
  private armBy(dueMs: number): void {
    if (dueMs >= this.timerDueMs) return;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timerDueMs = dueMs;
    // Unref'd: a lane timer left armed after the last call must not keep the process alive.
    // The work a deadline guards holds the process open by itself when it is real I/O.
    this.timer = this.clock.setTimer(() => this.fire(), Math.max(0, dueMs - this.clock.monoMs()));
    this.timer.unref?.();
  }

  private fire(): void {
    this.timer = undefined;
    this.timerDueMs = Infinity;
    const now = this.clock.monoMs();
    if (!this.openIsEmpty) {
      this.open.dueMs = now + this.durationMs;
      this.open = new Batch(this);
      this.openIsEmpty = true;
    }
    // Timers may fire up to a millisecond early relative to performance.now(); treat that as due.
    while (this.head !== undefined && this.head.batch!.dueMs <= now + 1) {
      const entry = this.head;
      this.unlink(entry);
      entry.onDeadline();
    }
    // Entries pushed by a firing deadline joined the new open batch and armed the timer.
    if (this.head !== undefined && this.head.batch!.dueMs !== Infinity)
      this.armBy(this.head.batch!.dueMs);
  }
}

const MAX_LANES = 64;

/**
 * Cheap deadlines for the hot path. Durations seen repeatedly (a dependency's
 * configured timeout) share a lane; beyond `MAX_LANES` distinct durations each
 * deadline gets its own timer (exact, at a timer's cost).
 */
export class Deadlines {
  private readonly lanes = new Map<number, Lane>();
  /** Most pipelines use one timeout: remember the last lane to skip the map lookup. */
  private lastDuration = -1;
  private lastLane: Lane | undefined = undefined;

  constructor(private readonly clock: Clock) {}

  /** Arm `entry` to fire `durationMs` from now (within its lane's tick, never earlier). */
  schedule(entry: DeadlineEntry, durationMs: number): void {
    const duration = Math.max(0, Math.round(durationMs));
    let lane = duration === this.lastDuration ? this.lastLane : this.lanes.get(duration);
    if (lane === undefined && this.lanes.size < MAX_LANES) {
      lane = new Lane(this.clock, duration);
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
    if (entry.batch !== undefined) entry.batch.lane.unlink(entry);
    else if (entry.timer !== undefined) {
      this.clock.clearTimer(entry.timer);
      entry.timer = undefined;
    }
  }
}
