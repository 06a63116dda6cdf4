import type { DependencyDescriptor } from '../../src/config/match';
import type { Pipeline } from '../../src/core/pipeline/pipeline';
import { PipelineCache } from '../shared/pipelines';
import { retryNotVetoed } from '../shared/sql-transactions';
import type { AgentContext } from '../shared/types';
import { mysqlClassifier } from './classify';
import { mysqlDescriptor } from './dependency';
import type { Command, ConnectionClass, MysqlConnection, MysqlPool } from './internals';

type CreateQuery = (sql: unknown, values: unknown, callback: unknown, config: unknown) => Command;

/** What the mysql2 wrappers share for one agent. */
export interface MysqlState {
  readonly context: AgentContext;
  /** One pipeline lookup per connection / pool object, never per query. */
  readonly pipelines: PipelineCache;
  /** mysql2's `Connection` class, for the connection that sends KILL QUERY after a timeout. */
  Connection: ConnectionClass | undefined;
  /** `Connection.createQuery`: builds the `Query` command exactly as `query()` would. */
  createQuery: CreateQuery | undefined;
  /** The `Query` command class (`lib/commands/query.js`). */
  Query: (abstract new (...args: never[]) => unknown) | undefined;
  /** The `Execute` command class, for stand-ins returned before a delayed `execute` runs. */
  Execute: (new (options: unknown, callback: unknown) => Command) | undefined;
}

/** Dependency descriptors, as static functions (no closure per call). */
export function describeConnection(connection: MysqlConnection): DependencyDescriptor {
  return mysqlDescriptor(connection.config);
}

export function describePool(pool: MysqlPool): DependencyDescriptor {
  return mysqlDescriptor(pool.config?.connectionConfig);
}

/** An agent bug: one log line, and the call passes through unprotected (the host never pays for it). */
export function agentFailed(state: MysqlState, what: string, error: unknown): void {
  state.context.logger.once(
    `agent-failure:${what}`,
    'error',
    `${what} failed; passing the call through unprotected`,
    error,
  );
}

const states = new WeakMap<AgentContext, MysqlState>();

export function mysqlState(context: AgentContext): MysqlState {
  let state = states.get(context);
  if (state === undefined) {
    state = {
      context,
      pipelines: new PipelineCache(context, {
        classifier: mysqlClassifier,
        retryIf: retryNotVetoed,
      }),
      Connection: undefined,
      createQuery: undefined,
      Query: undefined,
      Execute: undefined,
    };
    states.set(context, state);
  }
  return state;
}

export function isTimed(pipeline: Pipeline): boolean {
  return pipeline.options.attemptTimeoutMs > 0 || pipeline.options.totalTimeoutMs > 0;
}

/**
 * The pool's `query`/`execute` call `this.getConnection()` synchronously and
 * then `connection.query()`/`execute()` synchronously inside its callback;
 * both belong to the policed pool call and must not be policed again (a
 * bulkhead slot taken twice can deadlock; a breaker would count one failure
 * twice). Two flags set around those synchronous stretches identify them.
 */
export interface PoolCallOwner {
  readonly onTimeout: ((error: Error) => void) | undefined;
  connecting: unknown;
  /** The callback for the pool's checkout of the current attempt, wrapping the pool's own `inner`. */
  checkoutCallback(
    inner: (this: unknown, ...args: unknown[]) => unknown,
  ): (this: unknown, ...args: unknown[]) => unknown;
}

export const nesting: { pool: PoolCallOwner | undefined; connection: boolean } = {
  pool: undefined,
  connection: false,
};
