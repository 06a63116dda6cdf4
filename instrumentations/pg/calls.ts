import { invokeCallback, noop } from '../shared/callbacks';
import {
  attemptCallback,
  PolicedCall,
  type AttemptSink,
  type Callback,
} from '../shared/policed-call';
import { vetoRetry } from '../shared/sql-transactions';
import { abandonCheckout, cancelQuery, type PgClient, type PgPool } from './internals';
import { inTransaction } from './retry-safety';
import { nesting, type PgState, type PoolQueryOwner } from './state';

export type { Callback };

function isErrorArgument(value: unknown): boolean {
  return value !== null && value !== undefined;
}

/** Hand a checkout that arrived after its attempt was given up straight back to the pool. */
function releaseLate(client: unknown, release: unknown): void {
  if (client !== undefined && client !== null && typeof release === 'function')
    (release as () => void)();
}

/** pg-pool's checkout callback `(error, client, release)` for one attempt; no array per call. */
function checkoutCallback(call: PoolQueryCall, attempt: number, inner: Callback): Callback {
  return function (this: unknown, error: unknown, client: unknown, release: unknown) {
    return call.acquired(attempt, inner, this, error, client, release);
  };
}

/**
 * `client.query(…, callback)`, or a promise-style query when a timeout is
 * configured (then only `query` and `cancel` are used). One attempt: a client
 * never retries (see retry-safety.ts). The callback is called by pg's own call
 * to the attempt's callback — same tick, same `this`, same arguments — unless
 * the pipeline rejected the call or cut it first.
 */
export class ClientQueryCall extends PolicedCall implements AttemptSink {
  protected readonly what = 'pg query';
  /** The pg Query the attempt submitted, for `cancel`. */
  query: unknown = undefined;

  constructor(
    state: PgState,
    private readonly client: PgClient,
    private readonly callback: Callback | undefined,
    timed: boolean,
  ) {
    super(state.context.logger, false, timed);
  }

  /** The callback pg gets for attempt `attempt`. */
  callbackFor(attempt: number): Callback {
    return attemptCallback(this, attempt);
  }

  finish(attempt: number, thisArg: unknown, args: unknown[]): void {
    const isError = isErrorArgument(args[0]);
    if (!this.settle(attempt, isError, isError ? args[0] : args[1])) return;
    if (this.delivered || this.callback === undefined) return;
    this.delivered = true;
    this.callback.apply(thisArg, args);
  }

  /** The pipeline turned the call away or cut it: the callback gets its error. */
  rejected(error: unknown): void {
    if (this.delivered || this.callback === undefined) return;
    this.delivered = true;
    invokeCallback(this.callback, undefined, [error]);
  }

  protected cancel(): void {
    cancelQuery(this.client, this.query);
  }
}

/**
 * `pool.query(…)`: each attempt is one run of pg-pool's own `query` (checkout,
 * `client.query`, release), so a retry gets a fresh client — pg-pool discards
 * a client whose query failed. Without a callback the attempt is pg-pool's own
 * promise (what the application would have got); with one, a success reaches
 * the callback directly and errors go through the pipeline, which may retry.
 */
export class PoolQueryCall extends PolicedCall implements PoolQueryOwner, AttemptSink {
  protected readonly what = 'pg pool query';
  /** The client the current attempt checked out. */
  private client: PgClient | undefined = undefined;
  connecting: PgClient | undefined = undefined;
  private acquireCallback: unknown = undefined;
  /** An attempt ran inside a transaction: its failure must not be repeated elsewhere. */
  private noRetry = false;

  constructor(
    state: PgState,
    private readonly pool: PgPool,
    private readonly callback: Callback | undefined,
    retrySafe: boolean,
    timed: boolean,
  ) {
    super(state.context.logger, retrySafe, timed);
  }

  override begin(resolve: (value: unknown) => void, reject: (value: unknown) => void): number {
    this.client = undefined;
    this.connecting = undefined;
    return super.begin(resolve, reject);
  }

  /** An attempt whose outcome is pg-pool's promise (no settle functions of ours). */
  beginPromise(): number {
    this.client = undefined;
    this.connecting = undefined;
    this.abandoned = false;
    return ++this.attempt;
  }

  callbackFor(attempt: number): Callback {
    return attemptCallback(this, attempt);
  }

  finish(attempt: number, thisArg: unknown, args: unknown[]): void {
    const error: unknown = args[0];
    if (isErrorArgument(error)) {
      this.settle(attempt, true, error);
      return;
    }
    if (!this.settle(attempt, false, args[1])) return;
    if (this.delivered || this.callback === undefined) return;
    this.delivered = true;
    this.callback.apply(thisArg, args);
  }

  checkoutCallback(inner: Callback): Callback {
    const callback = checkoutCallback(this, this.attempt, inner);
    this.acquireCallback = callback;
    return callback;
  }

  /**
   * pg-pool's checkout for attempt `attempt` completed. A stale checkout (the
   * attempt timed out meanwhile) hands its client straight back; otherwise
   * pg-pool's own continuation runs, with its `client.query` marked as inner.
   */
  acquired(
    attempt: number,
    inner: Callback,
    thisArg: unknown,
    error: unknown,
    client: unknown,
    release: unknown,
  ): unknown {
    if (!this.isLive(attempt)) {
      releaseLate(client, release);
      return undefined;
    }
    if (client !== undefined && client !== null) {
      this.client = client as PgClient;
      if (this.retrySafe && inTransaction(client)) this.noRetry = true;
    }
    const saved = nesting.clientQuery;
    nesting.clientQuery = this;
    try {
      return inner.call(thisArg, error, client, release);
    } finally {
      nesting.clientQuery = saved;
    }
  }

  innerCallback(callback: unknown): unknown {
    if (!this.noRetry || typeof callback !== 'function') return callback;
    return function (this: unknown, ...result: unknown[]) {
      if (isErrorArgument(result[0])) vetoRetry(result[0]);
      return (callback as Callback).apply(this, result);
    };
  }

  rejected(error: unknown): void {
    if (this.delivered || this.callback === undefined) return;
    this.delivered = true;
    invokeCallback(this.callback, undefined, [error]);
  }

  protected cancel(error: Error): void {
    if (this.noRetry) vetoRetry(error);
    if (this.client !== undefined) cancelQuery(this.client, undefined);
    else abandonCheckout(this.pool, this.connecting, this.acquireCallback);
  }
}

/**
 * `pool.connect(…)` with a callback or a timeout: checking out a client.
 * pg-pool waits forever by default; here the pipeline's timeout and bulkhead
 * apply. Repeating a failed checkout is always safe. A client handed over
 * after the attempt timed out is released at once, so a timeout never leaks a
 * pool slot. (Without either, the attempt is pg-pool's own promise.)
 */
export class ConnectCall extends PolicedCall implements AttemptSink {
  protected readonly what = 'pg pool checkout';
  connecting: PgClient | undefined = undefined;
  acquireCallback: unknown = undefined;

  constructor(
    state: PgState,
    private readonly pool: PgPool,
    private readonly callback: Callback | undefined,
    timed: boolean,
  ) {
    super(state.context.logger, true, timed);
  }

  override begin(resolve: (value: unknown) => void, reject: (value: unknown) => void): number {
    this.connecting = undefined;
    return super.begin(resolve, reject);
  }

  callbackFor(attempt: number): Callback {
    const callback = attemptCallback(this, attempt);
    this.acquireCallback = callback;
    return callback;
  }

  finish(attempt: number, thisArg: unknown, args: unknown[]): void {
    const error: unknown = args[0];
    const client: unknown = args[1];
    if (!this.isLive(attempt)) {
      releaseLate(client, args[2]);
      return;
    }
    if (isErrorArgument(error)) {
      this.settle(attempt, true, error);
      return;
    }
    this.settle(attempt, false, client);
    if (this.delivered || this.callback === undefined) return;
    this.delivered = true;
    this.callback.apply(thisArg, args);
  }

  /** pg-pool's own checkout errors come as `(err, undefined, done)`; so do ours. */
  rejected(error: unknown): void {
    if (this.delivered || this.callback === undefined) return;
    this.delivered = true;
    invokeCallback(this.callback, undefined, [error, undefined, noop]);
  }

  protected cancel(): void {
    abandonCheckout(this.pool, this.connecting, this.acquireCallback);
  }
}
