import type { CallOptions } from '../../src/core/pipeline/options';
import type { Logger } from '../../src/log';

type Settle = (value: unknown) => void;

/** A driver callback. */
export type Callback = (this: unknown, ...args: unknown[]) => unknown;

/** Receives a driver's call of an attempt's callback, with its exact `this` and arguments. */
export interface AttemptSink {
  finish(attempt: number, thisArg: unknown, args: unknown[]): void;
}

/** The callback handed to the driver for attempt `attempt` of `sink`'s call. */
export function attemptCallback(sink: AttemptSink, attempt: number): Callback {
  return function baldurAttemptCallback(this: unknown, ...args: unknown[]) {
    sink.finish(attempt, this, args);
  };
}

/**
 * One call of a callback-style client method (pg, mysql2) going through a
 * pipeline. It is the pipeline's `CallOptions` for the call and holds what
 * every such wrapper needs:
 *
 * - the current attempt's settle functions; each attempt gets a number, so a
 *   late outcome of an attempt the pipeline gave up on (timeout) is recognised
 *   and dropped instead of settling the next attempt;
 * - `delivered`: the application has its answer — given directly by the
 *   attempt (a success, or an outcome that cannot be retried, keeps the
 *   driver's own timing and callback order) or by the pipeline's rejection
 *   (open circuit, full bulkhead, timeout);
 * - `onTimeout`, only when a timeout is configured, which stops the attempt's
 *   work in the driver (`cancel`). Stopping is best effort: if it fails, the
 *   agent logs one line and the late outcome is dropped.
 */
export abstract class PolicedCall implements CallOptions {
  readonly onTimeout: ((error: Error) => void) | undefined;
  /** Attempts started so far; the current one is `attempt`. */
  attempt = 0;
  /** The application has been given the outcome. */
  delivered = false;
  /** The current attempt was cut by a timeout. */
  abandoned = false;
  private resolveAttempt: Settle | undefined = undefined;
  private rejectAttempt: Settle | undefined = undefined;

  constructor(
    protected readonly logger: Logger,
    readonly retrySafe: boolean,
    timed: boolean,
  ) {
    this.onTimeout = timed ? (error: Error) => this.timedOut(error) : undefined;
  }

  /** What this call is, for the log line of a failed cancellation. */
  protected abstract readonly what: string;

  /** Stop the current attempt's work in the driver. */
  protected abstract cancel(error: Error): void;

  /** Start an attempt (inside its promise executor); returns its number. */
  begin(resolve: Settle, reject: Settle): number {
    this.resolveAttempt = resolve;
    this.rejectAttempt = reject;
    this.abandoned = false;
    return ++this.attempt;
  }

  /** Whether `attempt` is the current one and still running. */
  isLive(attempt: number): boolean {
    return attempt === this.attempt && !this.abandoned;
  }

  /** Settle attempt `attempt`; false (and nothing happens) when it is stale or abandoned. */
  settle(attempt: number, isError: boolean, outcome: unknown): boolean {
    if (!this.isLive(attempt)) return false;
    if (isError) this.rejectAttempt!(outcome);
    else this.resolveAttempt!(outcome);
    return true;
  }

  private timedOut(error: Error): void {
    this.abandoned = true;
    try {
      this.cancel(error);
    } catch (cancelError) {
      this.logger.once(
        `cancel:${this.what}`,
        'warn',
        `could not stop a timed-out ${this.what}; it is left to finish and its outcome is dropped`,
        cancelError,
      );
    }
  }
}
