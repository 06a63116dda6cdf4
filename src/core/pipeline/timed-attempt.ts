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

/**
 * The fast path's first attempt when a per-attempt timeout is configured,
 * written as one hand-built promise instead of an async function awaiting a
 * race: the callee's settlement and the deadline both feed `sink`, and
 * whichever comes first wins. This saves a promise, an await and a closure per
 * call against racing inside an async function.
 */
export class TimedAttempt extends DeadlineEntry {
  private done = false;
  private resolve!: (value: unknown) => void;

  constructor(
    private readonly deadlines: Deadlines,
    private readonly dependency: string,
    private readonly timeoutMs: number,
    private readonly sink: FirstOutcomeSink,
    private readonly fn: Callee,
    private readonly thisArg: unknown,
    private readonly args: readonly unknown[],
    private readonly call: CallOptions,
    private readonly permit: number,
    private readonly startMs: number,
  ) {
    super();
  }

  start(): Promise<unknown> {
    const promise = new Promise<unknown>(resolve => {
      this.resolve = resolve;
    });
    this.deadlines.schedule(this, this.timeoutMs);
    let work: unknown;
    try {
      work = this.fn.apply(this.thisArg, this.args as never[]);
    } catch (error) {
      this.settle(true, error, undefined);
      return promise;
    }
    Promise.resolve(work).then(
      value => this.settle(false, undefined, value),
      (error: unknown) => this.settle(true, error, undefined),
    );
    return promise;
  }

  onDeadline(): void {
    if (this.done) return;
    this.done = true;
    const error = new TimeoutError(this.dependency, this.timeoutMs, 'attempt');
    if (this.call.onTimeout !== undefined) {
      try {
        this.call.onTimeout(error);
      } catch {
        // Cancelling the underlying work is best effort; the caller still gets the timeout.
      }
    }
    this.resolve(this.deliver(true, error, undefined, true));
  }

  private settle(isError: boolean, error: unknown, value: unknown): void {
    if (this.done) return;
    this.done = true;
    this.deadlines.cancel(this);
    try {
      this.resolve(this.deliver(isError, error, value, false));
    } catch (sinkError) {
      // The sink only throws on an agent bug; surface it rather than hang the caller.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- deliver exactly what was thrown
      this.resolve(Promise.reject(sinkError));
    }
  }

  private deliver(isError: boolean, error: unknown, value: unknown, timedOut: boolean): unknown {
    return this.sink.afterFirst(
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
