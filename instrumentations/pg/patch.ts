/* eslint-disable prefer-rest-params -- pass-throughs forward a call's exact arguments (and arity) */
import { NOT_RETRY_SAFE_CALL, RETRY_SAFE_CALL } from '../../src/core/pipeline/options';
import type { Pipeline } from '../../src/core/pipeline/pipeline';
import { adoptPromise } from '../shared/callbacks';
import { isInternal, markInternal } from '../shared/internal';
import { wrapMethod } from '../shared/patch';
import { ClientQueryCall, ConnectCall, PoolQueryCall, type Callback } from './calls';
import { clientCount, locateQuery, newClientSince, queueLength } from './internals';
import {
  isPoolQueryRepeatable,
  passesUnpoliced,
  pgStatementKind,
  pgTransactions,
} from './retry-safety';
import {
  agentFailed,
  isTimed,
  nesting,
  retries,
  type PgClient,
  type PgPool,
  type PgState,
} from './state';
import { SubmittableCall } from './submittable';

type Fn = (this: unknown, ...args: unknown[]) => unknown;
type Prototype = Record<string, unknown>;

const NO_ARGS: readonly unknown[] = Object.freeze([]);

function hasSubmit(config: unknown): boolean {
  return typeof (config as { submit?: unknown }).submit === 'function';
}

/** `{ text, callback }` configs carry their callback inside. */
function configCallback(config: unknown): unknown {
  return typeof config === 'object' ? (config as { callback?: unknown }).callback : undefined;
}

// ---------------------------------------------------------------- Client.query

/** The pipeline for a client query, or undefined to pass it through (ROLLBACK). */
function planClientQuery(state: PgState, client: PgClient, config: unknown): Pipeline | undefined {
  const kind = pgStatementKind(config);
  if (typeof client.getTransactionStatus !== 'function') pgTransactions.note(client, kind);
  if (passesUnpoliced(kind)) return undefined;
  return state.pipelines.get(client, state.describeClient);
}

/**
 * `Client.prototype.query`: every query, in its three forms, keeps pg's
 * return shape — a promise without a callback, `undefined` with one, the
 * submittable itself for a submittable. Queries pg-pool's own `query` issues
 * are part of a policed Pool.query and pass through.
 */
export function wrapClientQuery(prototype: Prototype, state: PgState): boolean {
  return wrapMethod(prototype, 'query', original => {
    const fn = original as unknown as Fn;

    function callbackAttempt(
      this: unknown,
      config: unknown,
      values: unknown,
      policed: ClientQueryCall,
    ): Promise<unknown> {
      const client = this as PgClient;
      return new Promise((resolve, reject) => {
        const attempt = policed.begin(resolve, reject);
        const queued = policed.onTimeout === undefined ? -1 : queueLength(client);
        fn.call(client, config, values, policed.callbackFor(attempt));
        if (queued !== -1) policed.query = locateQuery(client, queued);
      });
    }

    function timedPromiseAttempt(
      this: unknown,
      config: unknown,
      values: unknown,
      policed: ClientQueryCall,
    ): unknown {
      const client = this as PgClient;
      const queued = queueLength(client);
      const result = fn.call(client, config, values);
      policed.query = locateQuery(client, queued);
      return result;
    }

    function submitAttempt(
      this: unknown,
      submittable: unknown,
      values: unknown,
      callback: unknown,
      policed: SubmittableCall,
    ): Promise<unknown> {
      return new Promise((resolve, reject) => {
        policed.watch(policed.begin(resolve, reject));
        fn.call(this, submittable, values, callback);
      });
    }

    return function query(
      this: unknown,
      config?: unknown,
      values?: unknown,
      callback?: unknown,
    ): unknown {
      const client = this as PgClient;
      const owner = nesting.clientQuery;
      if (owner !== undefined) {
        // pg-pool's own `client.query(text, values, callback)` inside a policed Pool.query.
        if (arguments.length === 3)
          return fn.call(client, config, values, owner.innerCallback(callback));
        return fn.apply(client, arguments as unknown as unknown[]);
      }
      // pg throws for a missing config or a non-function callback: let it.
      if (config === null || config === undefined || isInternal(client))
        return fn.apply(client, arguments as unknown as unknown[]);
      const submittable = hasSubmit(config);
      const inner = configCallback(config);
      if (
        !submittable &&
        ((callback !== undefined && typeof callback !== 'function') ||
          (inner !== undefined && typeof inner !== 'function'))
      )
        return fn.apply(client, arguments as unknown as unknown[]);
      let pipeline: Pipeline | undefined;
      try {
        pipeline = planClientQuery(state, client, config);
      } catch (error) {
        agentFailed(state, 'pg Client.query', error);
      }
      if (pipeline === undefined) return fn.apply(client, arguments as unknown as unknown[]);
      const timed = isTimed(pipeline);

      if (submittable) {
        const policed = new SubmittableCall(
          state,
          pipeline,
          client,
          config as Record<string, unknown>,
          timed,
        );
        pipeline
          .execute(submitAttempt, client, [config, values, callback, policed], policed)
          .then(undefined, (error: unknown) => policed.rejected(error));
        return config;
      }

      const done =
        typeof values === 'function' ? values : typeof callback === 'function' ? callback : inner;
      const params = typeof values === 'function' ? undefined : values;
      if (typeof done !== 'function') {
        if (!timed)
          return adoptPromise(
            client._Promise,
            pipeline.execute(fn, client, [config, params], NOT_RETRY_SAFE_CALL),
          );
        const policed = new ClientQueryCall(state, client, undefined, true);
        return adoptPromise(
          client._Promise,
          pipeline.execute(timedPromiseAttempt, client, [config, params, policed], policed),
        );
      }
      const policed = new ClientQueryCall(state, client, done as Callback, timed);
      pipeline
        .execute(callbackAttempt, client, [config, params, policed], policed)
        .then(undefined, (error: unknown) => policed.rejected(error));
      return undefined;
    };
  });
}

// ---------------------------------------------------------------- Pool.query

/**
 * `Pool.prototype.query`: the level where a connection failure can be
 * retried, because each attempt checks out a client of its own.
 */
export function wrapPoolQuery(prototype: Prototype, state: PgState): boolean {
  return wrapMethod(prototype, 'query', original => {
    const fn = original as unknown as Fn;

    /** The attempt is pg-pool's own promise, exactly what the application would have got. */
    function promiseAttempt(
      this: unknown,
      text: unknown,
      values: unknown,
      policed: PoolQueryCall,
    ): unknown {
      policed.beginPromise();
      const saved = nesting.poolQuery;
      nesting.poolQuery = policed;
      try {
        return fn.call(this, text, values);
      } finally {
        nesting.poolQuery = saved;
      }
    }

    function callbackAttempt(
      this: unknown,
      text: unknown,
      values: unknown,
      policed: PoolQueryCall,
    ): Promise<unknown> {
      return new Promise((resolve, reject) => {
        const attempt = policed.begin(resolve, reject);
        const saved = nesting.poolQuery;
        nesting.poolQuery = policed;
        try {
          fn.call(this, text, values, policed.callbackFor(attempt));
        } finally {
          nesting.poolQuery = saved;
        }
      });
    }

    return function query(this: unknown, text?: unknown, values?: unknown, cb?: unknown): unknown {
      const pool = this as PgPool;
      let callback = cb;
      let params = values;
      if (typeof values === 'function') {
        callback = values;
        params = undefined;
      }
      // pg-pool's own handling: a function as text, a submittable (use pool.connect for cursors), a bad callback.
      if (
        typeof text === 'function' ||
        text === null ||
        text === undefined ||
        hasSubmit(text) ||
        isInternal(pool) ||
        (callback !== undefined && callback !== null && typeof callback !== 'function')
      )
        return fn.apply(pool, arguments as unknown as unknown[]);
      let pipeline: Pipeline;
      let retrySafe: boolean;
      try {
        pipeline = state.pipelines.get(pool, state.describePool);
        retrySafe = retries(pipeline) && isPoolQueryRepeatable(text);
      } catch (error) {
        agentFailed(state, 'pg Pool.query', error);
        return fn.apply(pool, arguments as unknown as unknown[]);
      }
      const done = typeof callback === 'function' ? (callback as Callback) : undefined;
      const policed = new PoolQueryCall(state, pool, done, retrySafe, isTimed(pipeline));
      if (done === undefined)
        return adoptPromise(
          pool.Promise,
          pipeline.execute(promiseAttempt, pool, [text, params, policed], policed),
        );
      pipeline
        .execute(callbackAttempt, pool, [text, params, policed], policed)
        .then(undefined, (error: unknown) => policed.rejected(error));
      return undefined;
    };
  });
}

// ---------------------------------------------------------------- Pool.connect

/** Clients checked out of the agent's own pools belong to the agent too. */
function connectInternal(fn: Fn, pool: PgPool, callback: unknown): unknown {
  const mark = (client: unknown): void => {
    if (typeof client === 'object' && client !== null && !isInternal(client)) markInternal(client);
  };
  if (typeof callback === 'function') {
    return fn.call(pool, function (this: unknown, ...args: unknown[]) {
      mark(args[1]);
      return (callback as Callback).apply(this, args);
    });
  }
  return (fn.call(pool) as Promise<unknown>).then(client => {
    mark(client);
    return client;
  });
}

/** The checkout inside a policed Pool.query: part of its attempt, never policed again. */
function connectForPoolQuery(fn: Fn, pool: PgPool, callback: unknown): unknown {
  const owner = nesting.poolQuery!;
  nesting.poolQuery = undefined;
  const before = owner.onTimeout === undefined ? -1 : clientCount(pool);
  try {
    return fn.call(pool, owner.checkoutCallback(callback as Callback));
  } finally {
    nesting.poolQuery = owner;
    if (before !== -1) owner.connecting = newClientSince(pool, before);
  }
}

/**
 * `Pool.prototype.connect`: checking out a client, which pg-pool lets wait
 * forever unless `connectionTimeoutMillis` is set — the pipeline's timeout,
 * bulkhead and breaker apply here.
 */
export function wrapPoolConnect(prototype: Prototype, state: PgState): boolean {
  return wrapMethod(prototype, 'connect', original => {
    const fn = original as unknown as Fn;

    function attempt(this: unknown, policed: ConnectCall): Promise<unknown> {
      const pool = this as PgPool;
      return new Promise((resolve, reject) => {
        const callback = policed.callbackFor(policed.begin(resolve, reject));
        const before = policed.onTimeout === undefined ? -1 : clientCount(pool);
        fn.call(pool, callback);
        if (before !== -1) policed.connecting = newClientSince(pool, before);
      });
    }

    return function connect(this: unknown, callback?: unknown): unknown {
      const pool = this as PgPool;
      if (nesting.poolQuery !== undefined) return connectForPoolQuery(fn, pool, callback);
      if (isInternal(pool)) return connectInternal(fn, pool, callback);
      if (callback !== undefined && callback !== null && typeof callback !== 'function')
        return fn.apply(pool, arguments as unknown as unknown[]);
      let pipeline: Pipeline;
      try {
        pipeline = state.pipelines.get(pool, state.describePool);
      } catch (error) {
        agentFailed(state, 'pg Pool.connect', error);
        return fn.apply(pool, arguments as unknown as unknown[]);
      }
      const done = typeof callback === 'function' ? (callback as Callback) : undefined;
      const timed = isTimed(pipeline);
      // Nothing to stop and no callback to feed: the attempt is pg-pool's own promise.
      if (done === undefined && !timed)
        return adoptPromise(pool.Promise, pipeline.execute(fn, pool, NO_ARGS, RETRY_SAFE_CALL));
      const policed = new ConnectCall(state, pool, done, timed);
      const promise = pipeline.execute(attempt, pool, [policed], policed);
      if (done === undefined) return adoptPromise(pool.Promise, promise);
      promise.then(undefined, (error: unknown) => policed.rejected(error));
      return undefined;
    };
  });
}
