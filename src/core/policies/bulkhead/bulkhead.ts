import { DeadlineEntry, type Deadlines } from '../../deadlines';
import type { BulkheadOptions } from './options';

class Waiter extends DeadlineEntry {
  queuePrev: Waiter | undefined = undefined;
  queueNext: Waiter | undefined = undefined;
  resolve!: () => void;
  reject!: () => void;

  constructor(private readonly bulkhead: Bulkhead) {
    super();
  }

  onDeadline(): void {
    this.bulkhead.abandon(this);
    this.reject();
  }
}

/**
 * Concurrency limiter with a bounded FIFO queue. `tryEnter` is synchronous and
 * allocation-free; only a call that has to wait gets a promise. A freed slot is
 * handed straight to the oldest waiter, so waiters are never overtaken.
 */
export class Bulkhead {
  active = 0;
  queued = 0;
  private head: Waiter | undefined = undefined;
  private tail: Waiter | undefined = undefined;

  constructor(
    readonly options: BulkheadOptions,
    private readonly deadlines: Deadlines,
  ) {}

  tryEnter(): boolean {
    if (this.active < this.options.maxConcurrent && this.queued === 0) {
      this.active++;
      return true;
    }
    return false;
  }

  get canQueue(): boolean {
    return this.queued < this.options.maxQueue;
  }

  /**
   * Wait for a slot. Resolves holding the slot; rejects (with no value — the
   * caller builds its typed error) when the queue wait times out.
   */
  enqueue(): Promise<void> {
    const waiter = new Waiter(this);
    const promise = new Promise<void>((resolve, reject) => {
      waiter.resolve = resolve;
      waiter.reject = reject;
    });
    waiter.queuePrev = this.tail;
    if (this.tail === undefined) this.head = waiter;
    else this.tail.queueNext = waiter;
    this.tail = waiter;
    this.queued++;
    if (this.options.queueTimeoutMs > 0)
      this.deadlines.schedule(waiter, this.options.queueTimeoutMs);
    return promise;
  }

  leave(): void {
    const next = this.head;
    if (next === undefined) {
      this.active--;
      return;
    }
    // The slot passes directly to the oldest waiter: `active` is unchanged.
    this.deadlines.cancel(next);
    this.abandon(next);
    next.resolve();
  }

  /** Remove a waiter from the queue (timed out, or handed a slot). */
  abandon(waiter: Waiter): void {
    if (waiter.queuePrev === undefined) this.head = waiter.queueNext;
    else waiter.queuePrev.queueNext = waiter.queueNext;
    if (waiter.queueNext === undefined) this.tail = waiter.queuePrev;
    else waiter.queueNext.queuePrev = waiter.queuePrev;
    waiter.queuePrev = waiter.queueNext = undefined;
    this.queued--;
  }
}
