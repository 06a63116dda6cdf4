/* eslint-disable prefer-rest-params -- pass-throughs forward a call's exact arguments (and arity) */
import { EventEmitter } from 'node:events';
import type { Pipeline } from '../../src/core/pipeline/pipeline';
import { isInternal } from '../shared/internal';
import { wrapMethod } from '../shared/patch';
import { CheckoutCall, ConnectionCall, PoolCall, type Callback } from './calls';
import {
  connectionCount,
  newConnectionSince,
  type Command,
  type MysqlConnection,
  type MysqlPool,
} from './internals';
import {
  isPoolCallRepeatable,
  mysqlStatementKind,
  mysqlTransactions,
  passesUnpoliced,
  sqlText,
} from './retry-safety';
import {
  agentFailed,
  describeConnection,
  describePool,
  isTimed,
  nesting,
  type MysqlState,
} from './state';

type Fn = (this: unknown, ...args: unknown[]) => unknown;
type Prototype = Record<string, unknown>;

function isCallback(value: unknown): boolean {
  return value === undefined || value === null || typeof value === 'function';
}

/**
 * The argument shapes of `query`/`execute`, kept as given: `(sql)`,
 * `(sql, values)`, `(sql, callback)`, `(sql, values, callback)`. mysql2 treats
 * `(sql, undefined, callback)` and `(sql, callback)` alike for `query` but not
 * for `execute` (`values` becomes `[]`), so attempts repeat the caller's shape.
 */
const enum Shape {
  Sql = 1,
  SqlValues = 2,
  SqlCallback = 3,
  SqlValuesCallback = 4,
}

function shapeOf(values: unknown, callback: unknown): Shape {
  if (typeof values === 'function') return Shape.SqlCallback;
  if (typeof callback === 'function') return Shape.SqlValuesCallback;
  return values === undefined ? Shape.Sql : Shape.SqlValues;
}

function userCallback(values: unknown, callback: unknown): Callback | undefined {
  if (typeof values === 'function') return values as Callback;
  return typeof callback === 'function' ? (callback as Callback) : undefined;
}

function run(
  fn: Fn,
  thisArg: unknown,
  shape: Shape,
  sql: unknown,
  values: unknown,
  done: Callback | undefined,
): unknown {
  switch (shape) {
    case Shape.Sql:
      return fn.call(thisArg, sql);
    case Shape.SqlValues:
      return fn.call(thisArg, sql, values);
    case Shape.SqlCallback:
      return fn.call(thisArg, sql, done);
    case Shape.SqlValuesCallback:
      return fn.call(thisArg, sql, values, done);
  }
}

/** A command a policed pool call issues (or one through the agent's own pool): noted, not policed. */
function passInner(
  state: MysqlState,
  fn: Fn,
  connection: MysqlConnection,
  sql: unknown,
  args: IArguments,
): unknown {
  try {
    mysqlTransactions.note(connection, mysqlStatementKind(sql));
  } catch (error) {
    agentFailed(state, 'mysql2 transaction tracking', error);
  }
  return fn.apply(connection, args as unknown as unknown[]);
}

/** The pipeline for a connection's command, or undefined to pass it through (ROLLBACK). */
function planConnectionCall(
  state: MysqlState,
  connection: MysqlConnection,
  sql: unknown,
): Pipeline | undefined {
  const kind = mysqlStatementKind(sql);
  mysqlTransactions.note(connection, kind);
  if (passesUnpoliced(kind)) return undefined;
  return state.pipelines.get(connection, describeConnection);
}

function isAgentOwn(connection: MysqlConnection): boolean {
  return isInternal(connection) || isInternal(connection._pool);
}

/** Run the policed call; a synchronous throw of the driver is thrown to the caller, as without the agent. */
function executeCall(
  pipeline: Pipeline,
  attempt: (this: unknown, ...args: never[]) => unknown,
  thisArg: unknown,
  args: unknown[],
  policed: ConnectionCall | PoolCall,
): void {
  policed.syncPhase = true;
  const promise = pipeline.execute(attempt, thisArg, args, policed);
  policed.syncPhase = false;
  promise.then(undefined, (error: unknown) => policed.rejected(error));
  if (policed.thrownSync !== undefined) throw policed.thrownSync.error;
}

// ---------------------------------------------------------------- connection.query

/**
 * `connection.query()`: callback, event-emitter and (through mysql2's promise
 * wrapper, which calls it with a callback) promise forms. The `Query` command
 * is built up front exactly as mysql2 builds it and submitted by the attempt,
 * so the object returned is the one that runs even when a bulkhead queue
 * delays it, and a pipeline error reaches it the way mysql2 reports failures:
 * through the callback, or as an 'error' event.
 */
export function wrapConnectionQuery(prototype: Prototype, state: MysqlState): boolean {
  return wrapMethod(prototype, 'query', original => {
    const fn = original as unknown as Fn;

    function attempt(this: unknown, command: Command, policed: ConnectionCall): Promise<unknown> {
      return new Promise((resolve, reject) => {
        policed.begin(resolve, reject);
        policed.starting();
        try {
          fn.call(this, command);
        } catch (error) {
          policed.threw(error);
          throw error;
        }
      });
    }

    return function query(this: unknown, sql?: unknown, values?: unknown, cb?: unknown): unknown {
      const connection = this as MysqlConnection;
      if (sql === null || sql === undefined || isAgentOwn(connection))
        return fn.apply(connection, arguments as unknown as unknown[]);
      if (nesting.connection) return passInner(state, fn, connection, sql, arguments);
      const isCommand =
        state.Query !== undefined && (sql as { constructor?: unknown }).constructor === state.Query;
      const createQuery = state.createQuery;
      if (
        (!isCommand && (createQuery === undefined || !isCallback(cb))) ||
        (isCommand && !isCallback((sql as Command).onResult))
      )
        return fn.apply(connection, arguments as unknown as unknown[]);
      let pipeline: Pipeline | undefined;
      try {
        pipeline = planConnectionCall(state, connection, sql);
      } catch (error) {
        agentFailed(state, 'mysql2 query', error);
      }
      if (pipeline === undefined) return fn.apply(connection, arguments as unknown as unknown[]);

      const callback = isCommand
        ? typeof (sql as Command).onResult === 'function'
          ? ((sql as Command).onResult as Callback)
          : undefined
        : userCallback(values, cb);
      const policed = new ConnectionCall(state, pipeline, connection, callback, isTimed(pipeline));
      // One attempt: a connection's own calls are never retried.
      const done = callback === undefined ? undefined : policed.callbackFor(1);
      let command: Command;
      if (isCommand) {
        command = sql as Command;
        if (done !== undefined) command.onResult = done;
      } else {
        command = createQuery!(
          sql,
          typeof values === 'function' ? undefined : values,
          done,
          connection.config,
        );
      }
      policed.adopt(1, command);
      executeCall(pipeline, attempt, connection, [command, policed], policed);
      return command;
    };
  });
}

// ---------------------------------------------------------------- connection.execute

function executeStandIn(
  state: MysqlState,
  sql: unknown,
  values: unknown,
  callback: Callback | undefined,
): Command {
  const Execute = state.Execute;
  if (Execute === undefined) return new EventEmitter() as Command;
  return new Execute(
    { sql: sqlText(sql), values: typeof values === 'function' ? undefined : values },
    callback,
  );
}

/**
 * `connection.execute()`: like `query`, except that mysql2 builds the
 * `Execute` command inside and cannot take a prebuilt one; when the pipeline
 * delays the attempt (bulkhead queue, rate-limit wait), the caller gets a
 * stand-in command the real one's events are forwarded to.
 */
export function wrapConnectionExecute(prototype: Prototype, state: MysqlState): boolean {
  return wrapMethod(prototype, 'execute', original => {
    const fn = original as unknown as Fn;

    function attempt(
      this: unknown,
      sql: unknown,
      values: unknown,
      shape: Shape,
      policed: ConnectionCall,
    ): Promise<unknown> {
      return new Promise((resolve, reject) => {
        const number = policed.begin(resolve, reject);
        policed.starting();
        let command: unknown;
        try {
          command = run(
            fn,
            this,
            shape,
            sql,
            values,
            policed.hasCallback ? policed.callbackFor(number) : undefined,
          );
        } catch (error) {
          policed.threw(error);
          throw error;
        }
        if (command instanceof EventEmitter) policed.adopt(number, command as Command);
      });
    }

    return function execute(this: unknown, sql?: unknown, values?: unknown, cb?: unknown): unknown {
      const connection = this as MysqlConnection;
      if (sql === null || sql === undefined || isAgentOwn(connection) || !isCallback(cb))
        return fn.apply(connection, arguments as unknown as unknown[]);
      if (nesting.connection) return passInner(state, fn, connection, sql, arguments);
      let pipeline: Pipeline | undefined;
      try {
        pipeline = planConnectionCall(state, connection, sql);
      } catch (error) {
        agentFailed(state, 'mysql2 execute', error);
      }
      if (pipeline === undefined) return fn.apply(connection, arguments as unknown as unknown[]);
      const callback = userCallback(values, cb);
      const policed = new ConnectionCall(state, pipeline, connection, callback, isTimed(pipeline));
      executeCall(
        pipeline,
        attempt,
        connection,
        [sql, values, shapeOf(values, cb), policed],
        policed,
      );
      return policed.returned(() => executeStandIn(state, sql, values, callback));
    };
  });
}

// ---------------------------------------------------------------- pool.query / pool.execute

/** Retries are configured and the call may be repeated: a read, with a callback. */
function retrySafe(pipeline: Pipeline, sql: unknown, callback: Callback | undefined): boolean {
  const retry = pipeline.options.retry;
  return (
    callback !== undefined &&
    retry !== undefined &&
    retry.maxAttempts > 1 &&
    isPoolCallRepeatable(sql)
  );
}

/**
 * The pool's `query()` — the level where a connection failure can be retried,
 * because each attempt checks out a connection of its own. Returns the first
 * attempt's `Query` command (or a stand-in when the pipeline delays it).
 */
export function wrapPoolQuery(prototype: Prototype, state: MysqlState): boolean {
  return wrapMethod(prototype, 'query', original => {
    const fn = original as unknown as Fn;

    function attempt(
      this: unknown,
      sql: unknown,
      values: unknown,
      policed: PoolCall,
    ): Promise<unknown> {
      return new Promise((resolve, reject) => {
        const number = policed.begin(resolve, reject);
        const saved = nesting.pool;
        nesting.pool = policed;
        let command: unknown;
        try {
          command = policed.hasCallback
            ? fn.call(this, sql, values, policed.callbackFor(number))
            : fn.call(this, sql, values);
        } finally {
          nesting.pool = saved;
        }
        if (command instanceof EventEmitter) policed.adopt(number, command as Command);
      });
    }

    return function query(this: unknown, sql?: unknown, values?: unknown, cb?: unknown): unknown {
      const pool = this as MysqlPool;
      if (sql === null || sql === undefined || isInternal(pool) || !isCallback(cb))
        return fn.apply(pool, arguments as unknown as unknown[]);
      const callback = userCallback(values, cb);
      let pipeline: Pipeline;
      let safe: boolean;
      try {
        pipeline = state.pipelines.get(pool, describePool);
        safe = retrySafe(pipeline, sql, callback);
      } catch (error) {
        agentFailed(state, 'mysql2 pool.query', error);
        return fn.apply(pool, arguments as unknown as unknown[]);
      }
      const params = typeof values === 'function' ? undefined : values;
      const policed = new PoolCall(state, pipeline, pool, callback, safe, isTimed(pipeline));
      executeCall(pipeline, attempt, pool, [sql, params, policed], policed);
      return policed.returned(
        () =>
          state.createQuery?.(sql, params, callback, pool.config?.connectionConfig) ??
          (new EventEmitter() as Command),
      );
    };
  });
}

/** The pool's `execute()` (callback only; it returns nothing). */
export function wrapPoolExecute(prototype: Prototype, state: MysqlState): boolean {
  return wrapMethod(prototype, 'execute', original => {
    const fn = original as unknown as Fn;

    function attempt(
      this: unknown,
      sql: unknown,
      values: unknown,
      shape: Shape,
      policed: PoolCall,
    ): Promise<unknown> {
      return new Promise((resolve, reject) => {
        const number = policed.begin(resolve, reject);
        const saved = nesting.pool;
        nesting.pool = policed;
        try {
          run(fn, this, shape, sql, values, policed.callbackFor(number));
        } finally {
          nesting.pool = saved;
        }
      });
    }

    return function execute(this: unknown, sql?: unknown, values?: unknown, cb?: unknown): unknown {
      const pool = this as MysqlPool;
      const callback = userCallback(values, cb);
      // Without a callback mysql2 itself would throw on the first error: nothing to police.
      if (
        sql === null ||
        sql === undefined ||
        isInternal(pool) ||
        callback === undefined ||
        !isCallback(cb)
      )
        return fn.apply(pool, arguments as unknown as unknown[]);
      let pipeline: Pipeline;
      let safe: boolean;
      try {
        pipeline = state.pipelines.get(pool, describePool);
        safe = retrySafe(pipeline, sql, callback);
      } catch (error) {
        agentFailed(state, 'mysql2 pool.execute', error);
        return fn.apply(pool, arguments as unknown as unknown[]);
      }
      const policed = new PoolCall(state, pipeline, pool, callback, safe, isTimed(pipeline));
      executeCall(pipeline, attempt, pool, [sql, values, shapeOf(values, cb), policed], policed);
      return undefined;
    };
  });
}

// ---------------------------------------------------------------- pool.getConnection

/** The checkout inside a policed pool call: part of its attempt, never policed again. */
function checkoutForPoolCall(fn: Fn, pool: MysqlPool, callback: unknown): unknown {
  const owner = nesting.pool!;
  nesting.pool = undefined;
  const before = owner.onTimeout === undefined ? -1 : connectionCount(pool);
  try {
    return fn.call(pool, owner.checkoutCallback(callback as Callback));
  } finally {
    nesting.pool = owner;
    if (before !== -1) owner.connecting = newConnectionSince(pool, before);
  }
}

/**
 * The pool's `getConnection()`: checking out a connection, which mysql2 lets
 * wait without bound by default (`queueLimit: 0`) — the pipeline's timeout,
 * bulkhead and breaker apply here.
 */
export function wrapPoolGetConnection(prototype: Prototype, state: MysqlState): boolean {
  return wrapMethod(prototype, 'getConnection', original => {
    const fn = original as unknown as Fn;

    function attempt(this: unknown, policed: CheckoutCall): Promise<unknown> {
      const pool = this as MysqlPool;
      return new Promise((resolve, reject) => {
        const done = policed.callbackFor(policed.begin(resolve, reject));
        const before = policed.onTimeout === undefined ? -1 : connectionCount(pool);
        fn.call(pool, done);
        if (before !== -1) policed.connecting = newConnectionSince(pool, before);
      });
    }

    return function getConnection(this: unknown, cb?: unknown): unknown {
      const pool = this as MysqlPool;
      if (nesting.pool !== undefined) return checkoutForPoolCall(fn, pool, cb);
      if (isInternal(pool) || typeof cb !== 'function')
        return fn.apply(pool, arguments as unknown as unknown[]);
      let pipeline: Pipeline;
      try {
        pipeline = state.pipelines.get(pool, describePool);
      } catch (error) {
        agentFailed(state, 'mysql2 pool.getConnection', error);
        return fn.apply(pool, arguments as unknown as unknown[]);
      }
      const policed = new CheckoutCall(state, pool, cb as Callback, isTimed(pipeline));
      pipeline
        .execute(attempt, pool, [policed], policed)
        .then(undefined, (error: unknown) => policed.rejected(error));
      return undefined;
    };
  });
}
