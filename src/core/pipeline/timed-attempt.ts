import { DeadlineEntry, type Deadlines } from '../deadlines';
import { TimeoutError } from '../errors';
import type { CallOptions } from './options';

/** Where a first attempt's outcome goes (the pipeline). */
export interface FirstOutcomeSink {
  afterFirst(
    fn: Callee,
    thisArg: unknown,
    args: readonly unknown[],
    call: CallOptions,
    isError: boolean,
    error: unknown,
    value: unknown,
    permit: number,
    timedOut: boolean,
    startMs: number,
  ): unknown;
}

type Callee = (this: unknown, ...args: never[]) => unknown;

/** What every timed first attempt of one pipeline shares (one object per pipeline, not per call). */
export interface AttemptDeadline {
  readonly deadlines: Deadlines;
  readonly dependency: string;
  readonly timeoutMs: number;
  readonly sink: FirstOutcomeSink;
}

/**
 * The fast path's first attempt when a per-attempt timeout is configured,
 * written as hand-built promises instead of an async function awaiting a race:
 * the callee's settlement and the deadline both feed the sink, and whichever
 * comes first wins. This saves an await and closures per call against racing
 * inside an async function.
 */
export class TimedAttempt extends DeadlineEntry {
  // Declared, assigned in the constructor: one of these is built per timed call (see DeadlineEntry).
  declare private readonly limit: AttemptDeadline;
  declare private readonly fn: Callee;
  declare private readonly thisArg: unknown;
  declare private readonly args: readonly unknown[];
  declare private readonly call: CallOptions;
  declare private readonly permit: number;
  declare private readonly startMs: number;
  /** The deadline fired first: the attempt is a timeout whatever it settles with. */
  declare private timedOut: boolean;
  declare private expire: ((value: unknown) => void) | undefined;

  constructor(
    limit: AttemptDeadline,
    fn: Callee,
    thisArg: unknown,
    args: readonly unknown[],
    call: CallOptions,
    permit: number,
    startMs: number,
  ) {
    super();
    this.limit = limit;
    this.fn = fn;
    this.thisArg = thisArg;
    this.args = args;
    this.call = call;
    this.permit = permit;
    this.startMs = startMs;
    this.timedOut = false;
    this.expire = undefined;
  }

  start(): Promise<unknown> {
    const deadlines = this.limit.deadlines;
    deadlines.schedule(this, this.limit.timeoutMs);
    let work: unknown;
    try {
      work = this.fn.apply(this.thisArg, this.args as never[]);
    } catch (error) {
      deadlines.cancel(this);
      return new Promise(resolve => resolve(this.settle(true, error, undefined)));
    }
    // The outcome — the callee's or the deadline's — is handled in reactions registered here,
    // so whatever follows a timeout (retries, fallback, events) runs in the caller's async
    // context (AsyncLocalStorage, OpenTelemetry), not in that of the shared deadline timer.
    // The returned promise is that reaction's own: a sink error rejects it.
    return new Promise<unknown>((resolve, reject) => {
      this.expire = resolve;
      Promise.resolve(work).then(resolve, reject);
    }).then(
      value => this.settle(false, undefined, value),
      (error: unknown) => this.settle(true, error, undefined),
    );
  }

  onDeadline(): void {
    this.timedOut = true;
    const { call, limit } = this;
    if (call.onTimeout !== undefined) {
      try {
        call.onTimeout(new TimeoutError(limit.dependency, limit.timeoutMs, 'attempt'));
      } catch {
        // Cancelling the underlying work is best effort; the caller still gets the timeout.
      }
    }
    this.expire!(undefined);
  }

  private settle(isError: boolean, error: unknown, value: unknown): unknown {
    const limit = this.limit;
    if (this.timedOut) {
      return this.deliver(
        true,
        new TimeoutError(limit.dependency, limit.timeoutMs, 'attempt'),
        undefined,
        true,
      );
    }
    limit.deadlines.cancel(this);
    return this.deliver(isError, error, value, false);
  }

  private deliver(isError: boolean, error: unknown, value: unknown, timedOut: boolean): unknown {
    return this.limit.sink.afterFirst(
      this.fn,
      this.thisArg,
      this.args,
      this.call,
      isError,
      error,
      value,
      this.permit,
      timedOut,
      this.startMs,
    );
  }
}
