import type { Pipeline } from '../../src/core/pipeline/pipeline';
import { PolicedCall } from '../shared/policed-call';
import { classifyPgError } from './classify';
import { cancelQuery, type PgClient } from './internals';
import type { PgState } from './state';

/**
 * A Submittable (`typeof config.submit === 'function'`: pg-cursor,
 * pg-query-stream, a `new pg.Query()` streaming rows) passed to
 * `client.query`. pg returns the object itself and reports everything through
 * its `handle*` methods, so that is where the attempt is observed:
 *
 * - the first response (row description, a row, a suspended portal, command
 *   complete, …) settles the attempt as a success — a cursor read slowly over
 *   minutes is one quick success, not a call held open (and timed out) for
 *   its whole life;
 * - `handleError` before that settles it as a failure; after it, a failure
 *   classified as such is counted late (like a body cut mid-stream);
 * - an error of the pipeline (open circuit, full bulkhead, timeout) reaches
 *   the submittable through its own `handleError`, on the next tick — the way
 *   pg reports a client that cannot take queries — so pg-cursor calls its read
 *   callbacks with it and pg-query-stream emits 'error'.
 *
 * Never retried: a submittable cannot be submitted twice.
 */
const RESPONSES = [
  'handleRowDescription',
  'handleDataRow',
  'handlePortalSuspended',
  'handleCommandComplete',
  'handleEmptyQuery',
  'handleReadyForQuery',
  'handleCopyInResponse',
] as const;

type Handler = (this: unknown, ...args: unknown[]) => unknown;
type Submittable = Record<string, unknown>;

/** An own-property stand-in for one of the submittable's response handlers. */
function observeResponse(call: SubmittableCall, method: Handler): Handler {
  return function (this: unknown, ...args: unknown[]) {
    // Cut by a timeout: the application has the TimeoutError; what the cancelled statement still sends is noise.
    if (call.cancelled) return undefined;
    call.respond();
    return method.apply(this, args);
  };
}

/** An own-property stand-in for the submittable's `handleError`. */
function observeError(call: SubmittableCall, handleError: Handler): Handler {
  return function (this: unknown, ...args: unknown[]) {
    if (call.cancelled) return undefined;
    call.fail(args[0]);
    return handleError.apply(this, args);
  };
}

export class SubmittableCall extends PolicedCall {
  protected readonly what = 'pg submittable query';
  private responded = false;
  /** pg reported an error to the submittable: the pipeline's copy of it is not delivered again. */
  private sawError = false;
  /** The pipeline's error was (or is being) delivered: pg's late calls for the statement are noise. */
  cancelled = false;
  private handleError: Handler | undefined = undefined;
  private overridden: string[] = [];
  private current = 0;

  constructor(
    state: PgState,
    private readonly pipeline: Pipeline,
    private readonly client: PgClient,
    private readonly submittable: Submittable,
    timed: boolean,
  ) {
    super(state.context.logger, false, timed);
  }

  /** Observe the submittable's handlers for attempt `attempt` (called just before submitting it). */
  watch(attempt: number): void {
    this.current = attempt;
    const target = this.submittable;
    for (const name of RESPONSES) {
      const method = target[name];
      if (typeof method !== 'function' || Object.prototype.hasOwnProperty.call(target, name))
        continue;
      target[name] = observeResponse(this, method as Handler);
      this.overridden.push(name);
    }
    const handleError = target.handleError;
    if (typeof handleError !== 'function') return;
    this.handleError = handleError as Handler;
    target.handleError = observeError(this, handleError as Handler);
  }

  /** The statement answered: the attempt is a success (called by the observers). */
  respond(): void {
    if (this.responded) return;
    this.responded = true;
    // Back to the submittable's own methods: rows flow without an extra call each.
    for (const name of this.overridden) delete this.submittable[name];
    this.overridden = [];
    // Not the submittable itself: a thenable one would be called by the promise machinery.
    this.settle(this.current, false, undefined);
  }

  /** pg reported an error (called by the observer). */
  fail(error: unknown): void {
    this.sawError = true;
    if (!this.responded) {
      this.responded = true;
      this.settle(this.current, true, error);
    } else if (classifyPgError(error) === 'failure') {
      this.pipeline.recordLateFailure();
    }
  }

  /** The pipeline turned the call away or cut it: the submittable hears it the way pg tells it of errors. */
  rejected(error: unknown): void {
    if (this.sawError) return;
    this.cancelled = true;
    const handleError = this.handleError ?? (this.submittable.handleError as Handler | undefined);
    if (typeof handleError !== 'function') return;
    const target = this.submittable;
    const connection = this.client.connection;
    process.nextTick(() => handleError.call(target, error, connection));
  }

  protected cancel(): void {
    this.cancelled = true;
    cancelQuery(this.client, this.submittable);
  }
}
