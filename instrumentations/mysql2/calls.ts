import type { Pipeline } from '../../src/core/pipeline/pipeline';
import { invokeCallback } from '../shared/callbacks';
import {
  attemptCallback,
  PolicedCall,
  type AttemptSink,
  type Callback,
} from '../shared/policed-call';
import { vetoRetry } from '../shared/sql-transactions';
import { classifyMysqlError, isConnectionGone } from './classify';
import {
  abandonCheckout,
  cancelCommand,
  CLOSED_BY_APPLICATION,
  emitDirect,
  type Command,
  type MysqlConnection,
  type MysqlPool,
} from './internals';
import { mysqlTransactions } from './retry-safety';
import { nesting, type MysqlState, type PoolCallOwner } from './state';
import { unwatchConnection, watchConnection, type ConnectionWatcher } from './watch';

export type { Callback };

type Emit = (this: unknown, name: string | symbol, ...args: unknown[]) => boolean;

function rethrow(error: unknown): never {
  throw error;
}

/** Report a pipeline error on an event-emitter command the way mysql2 reports a failed one: 'error', then 'end'. */
function emitFailure(command: Command, error: unknown): void {
  try {
    emitDirect(command, 'error', error);
    emitDirect(command, 'end');
  } catch (unobserved) {
    // No 'error' listener: the error is uncaught, as mysql2's own would be — but never an unhandled rejection.
    process.nextTick(rethrow, unobserved);
  }
}

const RESPONSE_EVENTS = new Set<string | symbol>(['fields', 'result', 'end']);

/** Give `command` an own `emit` that shows each event to `call` first (which may swallow it). */
function observeCommand(call: CommandCall, attempt: number, command: Command): void {
  const emit = Reflect.get(command, 'emit') as Emit;
  const observed: Emit = function (this: unknown, name, ...args) {
    return call.commandEvent(attempt, name, args[0]) ? emit.call(this, name, ...args) : false;
  };
  Object.defineProperty(command, 'emit', { value: observed, writable: true, configurable: true });
}

/** Events of the real command, re-emitted on the stand-in the application holds. */
function forwardEvents(from: Command, to: Command): void {
  const emit = Reflect.get(from, 'emit') as Emit;
  const forwarding: Emit = function (this: unknown, name, ...args) {
    // An 'error' nobody listens to on the real command would throw inside mysql2: only the stand-in gets it.
    const result =
      name === 'error' && from.listenerCount('error') === 0
        ? false
        : emit.call(this, name, ...args);
    if (name === 'error' && to.listenerCount('error') === 0) process.nextTick(rethrow, args[0]);
    else to.emit(name, ...args);
    return result;
  };
  Object.defineProperty(from, 'emit', { value: forwarding, writable: true, configurable: true });
}

/**
 * A policed mysql2 command call (query / execute, on a connection or a pool).
 * In callback mode the attempt ends with mysql2's call of the callback; in
 * event-emitter mode with the command's first event — 'fields', 'result' or
 * 'end' is a success, 'error' a failure — so a result streamed for minutes is
 * one quick success, not a call held open (and timed out) for its whole life.
 * A later 'error' that counts as a failure is recorded late.
 */
abstract class CommandCall extends PolicedCall implements ConnectionWatcher, AttemptSink {
  /** The command handed to the application. */
  command: Command | undefined = undefined;
  /** The driver command of the first attempt (what a timeout must stop). */
  protected running: Command | undefined = undefined;
  /** `command` is a stand-in: the attempt ran later and forwards its events to it. */
  private standIn = false;
  private responded = false;
  /** The application got the pipeline's error: mysql2's late 'error' for the command is dropped. */
  private cancelled = false;
  /** mysql2 itself reported this event-emitter command's failure (on the command or its connection). */
  private heardFromDriver = false;
  /** The driver threw synchronously during `execute()`: the wrapper rethrows it; nothing is delivered. */
  syncPhase = false;
  thrownSync: { error: unknown } | undefined = undefined;
  /** Connection the current attempt runs on. */
  protected connection: MysqlConnection | undefined = undefined;

  constructor(
    protected readonly state: MysqlState,
    protected readonly pipeline: Pipeline,
    protected readonly callback: Callback | undefined,
    retrySafe: boolean,
    timed: boolean,
  ) {
    super(state.context.logger, retrySafe, timed);
  }

  /** Whether an error reaching the callback may still be retried by the pipeline (pool calls). */
  protected abstract readonly errorsThroughPipeline: boolean;

  /** Callback mode (the promise API too); otherwise the command's events carry the outcome. */
  get hasCallback(): boolean {
    return this.callback !== undefined;
  }

  /** The callback mysql2 gets for attempt `attempt`. */
  callbackFor(attempt: number): Callback {
    return attemptCallback(this, attempt);
  }

  finish(attempt: number, thisArg: unknown, args: unknown[]): void {
    // A late outcome of an attempt the pipeline gave up on: the application already has its answer.
    if (!this.isLive(attempt)) return;
    unwatchConnection(this.connection, this);
    const error: unknown = args[0];
    const isError = error !== null && error !== undefined;
    if (isError) this.failing(error);
    this.settle(attempt, isError, isError ? error : undefined);
    if (this.delivered || this.callback === undefined || (isError && this.errorsThroughPipeline))
      return;
    this.delivered = true;
    this.callback.apply(thisArg, args);
  }

  /** A hook for pool calls (retry veto); called with every failed attempt's error. */
  protected failing(_error: unknown): void {}

  /** Record the attempt's driver command: the one returned, or forwarded to the stand-in. */
  adopt(attempt: number, command: Command): void {
    this.running = command;
    if (this.command === undefined) this.command = command;
    else if (this.standIn && attempt === 1) forwardEvents(command, this.command);
    if (this.callback === undefined) observeCommand(this, attempt, command);
  }

  /** The command to return when the pipeline has not run the attempt (yet). */
  returned(makeStandIn: () => Command): Command {
    if (this.command === undefined) {
      this.command = makeStandIn();
      this.standIn = true;
    }
    return this.command;
  }

  /**
   * Event-emitter mode: a command event of attempt `attempt`; false swallows
   * it. The first 'fields', 'result' or 'end' is the attempt's success,
   * 'error' before that its failure.
   */
  commandEvent(attempt: number, name: string | symbol, arg: unknown): boolean {
    // Cut by a timeout: the application has the TimeoutError; what the killed statement still emits is noise.
    if (this.cancelled) return false;
    if (name === 'error') {
      this.commandFailed(attempt, arg);
    } else if (!this.responded && RESPONSE_EVENTS.has(name)) {
      this.responded = true;
      unwatchConnection(this.connection, this);
      this.settle(attempt, false, undefined);
    }
    return true;
  }

  private commandFailed(attempt: number, error: unknown): void {
    if (this.responded) {
      if (classifyMysqlError(error) === 'failure') this.pipeline.recordLateFailure();
      return;
    }
    this.responded = true;
    this.heardFromDriver = true;
    unwatchConnection(this.connection, this);
    this.failing(error);
    this.settle(attempt, true, error);
  }

  connectionFailed(error: unknown): void {
    // mysql2 will not complete this command: end its attempt. The application hears what mysql2 tells it.
    if (error !== CLOSED_BY_APPLICATION) this.failing(error);
    this.responded = true;
    this.heardFromDriver = true;
    this.settle(this.attempt, true, error);
  }

  /** The pipeline turned the call away or cut it: the application hears it the way mysql2 reports failures. */
  rejected(error: unknown): void {
    if (this.delivered || this.thrownSync !== undefined || error === CLOSED_BY_APPLICATION) return;
    this.delivered = true;
    if (this.callback !== undefined) {
      invokeCallback(this.callback, undefined, [error]);
      return;
    }
    if (this.heardFromDriver) return;
    this.cancelled = true;
    if (this.command !== undefined) emitFailure(this.command, error);
  }

  /** Inside the attempt's executor: a synchronous throw of the driver. */
  threw(error: unknown): void {
    if (this.syncPhase) this.thrownSync = { error };
  }

  protected markCancelled(): void {
    this.cancelled = true;
  }
}

/**
 * `connection.query()` / `connection.execute()`. One attempt: a connection
 * never retries (see retry-safety.ts). With a callback, mysql2's own call of
 * the attempt's callback calls the application's — same tick, same `this`,
 * same arguments.
 */
export class ConnectionCall extends CommandCall {
  protected readonly what = 'mysql2 query';
  protected readonly errorsThroughPipeline = false;

  constructor(
    state: MysqlState,
    pipeline: Pipeline,
    private readonly target: MysqlConnection,
    callback: Callback | undefined,
    timed: boolean,
  ) {
    super(state, pipeline, callback, false, timed);
  }

  /** The attempt starts on the connection. */
  starting(): void {
    this.connection = this.target;
    watchConnection(this.target, this);
  }

  protected cancel(): void {
    this.markCancelled();
    cancelCommand(this.target, this.running, this.state.Connection);
  }
}

/** The pool's checkout callback `(error, connection)` for one attempt; no array per call. */
function checkoutCallback(call: PoolCall, attempt: number, inner: Callback): Callback {
  return function (this: unknown, error: unknown, connection: unknown) {
    return call.acquired(attempt, inner, this, error, connection);
  };
}

/**
 * The pool's `query()` / `execute()`: each attempt is one run of mysql2's own
 * (checkout, command, release), so a retry gets a fresh connection. A success
 * reaches the callback directly; errors go through the pipeline, which may
 * retry them.
 */
export class PoolCall extends CommandCall implements PoolCallOwner {
  protected readonly what = 'mysql2 pool query';
  protected readonly errorsThroughPipeline = true;
  connecting: unknown = undefined;
  acquireCallback: unknown = undefined;
  private noRetry = false;

  constructor(
    state: MysqlState,
    pipeline: Pipeline,
    private readonly pool: MysqlPool,
    callback: Callback | undefined,
    retrySafe: boolean,
    timed: boolean,
  ) {
    super(state, pipeline, callback, retrySafe, timed);
  }

  override begin(resolve: (value: unknown) => void, reject: (value: unknown) => void): number {
    this.connection = undefined;
    this.connecting = undefined;
    this.acquireCallback = undefined;
    return super.begin(resolve, reject);
  }

  protected override failing(error: unknown): void {
    if (this.noRetry) vetoRetry(error);
    // mysql2 hands a connection back to the pool after a failed command even when the server has killed
    // it; a retry could draw that very connection. Drop it, so the next attempt gets a fresh one.
    if (this.connection !== undefined && isConnectionGone(error)) {
      try {
        this.connection.destroy?.();
      } catch (destroyError) {
        this.logger.once(
          'mysql2-drop-connection',
          'warn',
          'could not drop a broken pool connection',
          destroyError,
        );
      }
    }
  }

  checkoutCallback(inner: Callback): Callback {
    const callback = checkoutCallback(this, this.attempt, inner);
    this.acquireCallback = callback;
    return callback;
  }

  /**
   * mysql2's checkout for attempt `attempt` completed. A stale checkout (the
   * attempt timed out meanwhile) hands its connection straight back;
   * otherwise the pool's own continuation runs, its command marked as inner.
   */
  acquired(
    attempt: number,
    inner: Callback,
    thisArg: unknown,
    error: unknown,
    connection: unknown,
  ): unknown {
    const checkedOut = connection as MysqlConnection | undefined | null;
    if (!this.isLive(attempt)) {
      checkedOut?.release?.();
      return undefined;
    }
    if (checkedOut !== undefined && checkedOut !== null) {
      this.connection = checkedOut;
      if (this.retrySafe && mysqlTransactions.isOpen(checkedOut)) this.noRetry = true;
      watchConnection(checkedOut, this);
    }
    const saved = nesting.connection;
    nesting.connection = true;
    try {
      return inner.call(thisArg, error, connection);
    } finally {
      nesting.connection = saved;
    }
  }

  protected cancel(error: Error): void {
    if (this.noRetry) vetoRetry(error);
    this.markCancelled();
    if (this.connection !== undefined)
      cancelCommand(this.connection, undefined, this.state.Connection);
    else
      abandonCheckout(
        this.pool,
        this.connecting as MysqlConnection | undefined,
        this.acquireCallback,
      );
  }
}

/**
 * `pool.getConnection(callback)` (the promise pool's `getConnection()` calls
 * it too): checking out a connection. Repeating a failed checkout is always
 * safe. A connection handed over after the attempt timed out is released at
 * once, so a timeout never leaks a pool slot.
 */
export class CheckoutCall extends PolicedCall implements AttemptSink {
  protected readonly what = 'mysql2 pool checkout';
  connecting: MysqlConnection | undefined = undefined;
  acquireCallback: unknown = undefined;

  constructor(
    state: MysqlState,
    private readonly pool: MysqlPool,
    private readonly callback: Callback,
    timed: boolean,
  ) {
    super(state.context.logger, true, timed);
  }

  callbackFor(attempt: number): Callback {
    const callback = attemptCallback(this, attempt);
    this.acquireCallback = callback;
    return callback;
  }

  finish(attempt: number, thisArg: unknown, args: unknown[]): void {
    const error: unknown = args[0];
    const connection = args[1] as MysqlConnection | undefined | null;
    if (!this.isLive(attempt)) {
      connection?.release?.();
      return;
    }
    if (error !== null && error !== undefined) {
      this.settle(attempt, true, error);
      return;
    }
    this.settle(attempt, false, connection);
    if (this.delivered) return;
    this.delivered = true;
    this.callback.apply(thisArg, args);
  }

  rejected(error: unknown): void {
    if (this.delivered) return;
    this.delivered = true;
    invokeCallback(this.callback, undefined, [error]);
  }

  protected cancel(): void {
    abandonCheckout(this.pool, this.connecting, this.acquireCallback);
  }
}
