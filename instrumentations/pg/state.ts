import type { DependencyDescriptor } from '../../src/config/match';
import type { Pipeline } from '../../src/core/pipeline/pipeline';
import { PipelineCache } from '../shared/pipelines';
import { retryNotVetoed } from '../shared/sql-transactions';
import type { AgentContext } from '../shared/types';
import { pgClassifier } from './classify';
import { clientDescriptor, poolDescriptor, type ConnectionParametersClass } from './dependency';
import type { PgClient, PgPool } from './internals';

/** What the pg wrappers share for one agent. */
export interface PgState {
  readonly context: AgentContext;
  /** One pipeline lookup per Client / Pool object, never per query. */
  readonly pipelines: PipelineCache;
  /** pg's own parameter resolution, captured as pg loads it (keys pools like their clients). */
  ConnectionParameters: ConnectionParametersClass | undefined;
  /** The JavaScript `Client` class from `pg/lib/client.js` (not pg-native). */
  Client: (abstract new (...args: never[]) => unknown) | undefined;
  /** Dependency descriptors, as static functions (no closure per call). */
  readonly describeClient: (client: PgClient) => DependencyDescriptor;
  readonly describePool: (pool: PgPool) => DependencyDescriptor;
}

const states = new WeakMap<AgentContext, PgState>();

export function pgState(context: AgentContext): PgState {
  let state = states.get(context);
  if (state === undefined) {
    const created: PgState = {
      context,
      pipelines: new PipelineCache(context, { classifier: pgClassifier, retryIf: retryNotVetoed }),
      ConnectionParameters: undefined,
      Client: undefined,
      describeClient: client => clientDescriptor(client),
      describePool: pool => poolDescriptor(pool.options, created.ConnectionParameters),
    };
    state = created;
    states.set(context, state);
  }
  return state;
}

/** An agent bug: one log line, and the call passes through unprotected (the host never pays for it). */
export function agentFailed(state: PgState, what: string, error: unknown): void {
  state.context.logger.once(
    `agent-failure:${what}`,
    'error',
    `${what} failed; passing the call through unprotected`,
    error,
  );
}

/** Retries are configured for the dependency (only then is retry-safety worth computing). */
export function retries(pipeline: Pipeline): boolean {
  const retry = pipeline.options.retry;
  return retry !== undefined && retry.maxAttempts > 1;
}

/** A timeout is configured: calls need a way to stop their work when it fires. */
export function isTimed(pipeline: Pipeline): boolean {
  return pipeline.options.attemptTimeoutMs > 0 || pipeline.options.totalTimeoutMs > 0;
}

/**
 * Pool.query runs `this.connect()` and then `client.query()` internally; both
 * are part of its attempt and must not be policed a second time (a bulkhead
 * slot taken twice can deadlock; a breaker would count one failure twice).
 * The original Pool.query calls `connect` synchronously, and `client.query`
 * synchronously inside the connect callback, so two flags set around those
 * synchronous stretches identify the inner calls without any async context.
 */
export interface Nesting {
  /** Set while the original Pool.query runs: its `connect` belongs to this call. */
  poolQuery: PoolQueryOwner | undefined;
  /** Set while pg-pool's checkout callback for a policed Pool.query runs: its `client.query` is inner. */
  clientQuery: PoolQueryOwner | undefined;
}

type Fn = (this: unknown, ...args: unknown[]) => unknown;

/** What the inner checkout and query of a policed Pool.query report to. */
export interface PoolQueryOwner {
  readonly onTimeout: ((error: Error) => void) | undefined;
  connecting: PgClient | undefined;
  /** The callback for pg-pool's checkout of the current attempt, wrapping pg-pool's own `inner`. */
  checkoutCallback(inner: Fn): Fn;
  /**
   * The callback for pg-pool's `client.query(text, values, callback)` inside the attempt: its own,
   * or one that marks an error as not repeatable when the attempt ran inside a transaction.
   */
  innerCallback(callback: unknown): unknown;
}

export const nesting: Nesting = { poolQuery: undefined, clientQuery: undefined };

export type { PgClient, PgPool };
