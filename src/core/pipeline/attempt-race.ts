import { DeadlineEntry, type Deadlines } from '../deadlines';
import { TimeoutError } from '../errors';

/**
 * One attempt racing its deadline. Lives in the deadline lane as a list node, so
 * arming and disarming the timeout is O(1) and needs no timer of its own.
 */
export class AttemptRace extends DeadlineEntry {
  /** The deadline won: the attempt was cut. */
  fired = false;
  private reject!: (error: unknown) => void;

  constructor(
    private readonly deadlines: Deadlines,
    private readonly dependency: string,
    private readonly timeoutMs: number,
    readonly scope: 'attempt' | 'total',
    private readonly controller: AbortController | undefined,
    private readonly onTimeout: ((error: Error) => void) | undefined,
    /** The limit the error names: a total deadline cuts the last attempt short, but the user set the total. */
    private readonly reportedMs: number = timeoutMs,
  ) {
    super();
  }

  /**
   * Settles with `work`, or with a `TimeoutError` when the deadline comes first.
   * The work settles the promise through the promise's own resolve/reject (no
   * closures of ours); the caller disarms the deadline with `finish()` once its
   * await returns, whichever side won.
   */
  run(work: Promise<unknown>): Promise<unknown> {
    this.deadlines.schedule(this, this.timeoutMs);
    return new Promise<unknown>((resolve, reject) => {
      this.reject = reject;
      work.then(resolve, reject);
    });
  }

  /** Disarm the deadline (a no-op when it already fired). */
  finish(): void {
    this.deadlines.cancel(this);
  }

  onDeadline(): void {
    this.fired = true;
    const error = new TimeoutError(this.dependency, Math.round(this.reportedMs), this.scope);
    this.controller?.abort(error);
    if (this.onTimeout !== undefined) {
      try {
        this.onTimeout(error);
      } catch {
        // Cancelling the underlying work is best effort; the caller still gets the timeout.
      }
    }
    this.reject(error);
  }
}
