import type { CallOptions } from '../../src/core/pipeline/options';
import type { Callee } from '../../src/core/pipeline/pipeline';
import type { Logger } from '../../src/log';
import { isInternal } from '../shared/internal';
import { BatchOutcome } from './classify';
import {
  kGoverned,
  openCircuitError,
  removeQueued,
  type ClientLike,
  type ClientStates,
  type CommandLike,
} from './client';
import { PUBSUB, READ_ONLY, commandKind, isBlocking } from './retry-safety';

/** The parts of an ioredis `Pipeline` (also what `multi()` returns) used here. */
export interface PipelineLike {
  redis: ClientLike;
  _queue: CommandLike[];
  _transactions: number;
  promise: Promise<unknown>;
  /** ioredis keeps the resolvers of `promise` on the instance; `fillResult` calls them. */
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  nodeifiedPromise?: boolean;
  sendCommand(command: CommandLike): unknown;
  [kGoverned]?: true;
}

type Exec = (this: unknown, ...args: never[]) => unknown;

const NO_ARGS: readonly unknown[] = Object.freeze([]);

/** How a batch is governed, from one pass over its commands. */
const enum Plan {
  /** Through the pipeline, not retried (writes, a transaction, per-command callbacks). */
  Once,
  /** Through the pipeline; every command is read-only, so the whole batch may be re-sent. */
  Retryable,
  /** Holds a blocking or pub/sub command: only an open breaker stops it, no timeout, no retry. */
  BreakerOnly,
}

function planBatch(queue: readonly CommandLike[]): Plan {
  let readOnly = true;
  for (const command of queue) {
    const kind = commandKind(command.name);
    if ((kind & PUBSUB) !== 0 || isBlocking(kind, command.args)) return Plan.BreakerOnly;
    if (
      (kind & READ_ONLY) === 0 ||
      command.callback !== undefined ||
      command.inTransaction === true
    ) {
      readOnly = false;
    }
  }
  return readOnly && queue.length > 0 ? Plan.Retryable : Plan.Once;
}

/**
 * Settle a batch that was never sent: exec()'s promise and callback reject with
 * the policy's error, and so does every queued command (their own callbacks
 * would otherwise wait forever; the pipeline's handlers on them swallow it).
 */
function rejectUnsent(pipeline: PipelineLike, callback: unknown, error: unknown): void {
  pipeline[kGoverned] = true;
  if (pipeline.nodeifiedPromise !== true) {
    pipeline.nodeifiedPromise = true;
    if (typeof callback === 'function') {
      pipeline.promise.then(undefined, (reason: unknown) => {
        try {
          (callback as (error: unknown) => void)(reason);
        } catch (thrown) {
          // As ioredis (standard-as-callback) does: a throwing callback must not become our rejection.
          setImmediate(() => {
            throw thrown;
          });
        }
      });
    }
  }
  pipeline.reject(error);
  for (const command of pipeline._queue) command.reject(error);
}

/** A copy of the batch for a retry: same commands as new Command objects, no callbacks. */
function cloneBatch(pipeline: PipelineLike): PipelineLike {
  const Pipeline = pipeline.constructor as new (redis: ClientLike) => PipelineLike;
  const copy = new Pipeline(pipeline.redis);
  for (const command of pipeline._queue) {
    const Command = command.constructor as new (
      name: string,
      args: unknown[],
      options: { replyEncoding?: unknown },
    ) => CommandLike;
    copy.sendCommand(
      new Command(command.name, command.args.slice(), { replyEncoding: command.replyEncoding }),
    );
  }
  copy[kGoverned] = true;
  return copy;
}

function toOutcome(results: unknown): BatchOutcome {
  return new BatchOutcome(results);
}

/**
 * One `exec()` as one logical call. The first attempt is the app's pipeline
 * itself; a retry (read-only batches only) sends a copy. For a retryable batch
 * the pipeline's resolve/reject are held back while attempts run, so exec()'s
 * promise and callback see only the final outcome.
 */
class BatchRun implements CallOptions {
  readonly onTimeout: ((error: Error) => void) | undefined;
  private sent = false;
  private current: PipelineLike;
  private settle: Pick<PipelineLike, 'resolve' | 'reject'> | undefined;

  constructor(
    private readonly pipeline: PipelineLike,
    /** exec()'s own arguments (the callback, if any), passed on as given. */
    private readonly args: readonly unknown[],
    private readonly original: Exec,
    readonly retrySafe: boolean,
    timed: boolean,
  ) {
    this.current = pipeline;
    this.onTimeout = timed ? error => this.expire(error) : undefined;
  }

  attempt(): Promise<BatchOutcome> {
    const pipeline = this.pipeline;
    if (!this.sent) {
      this.sent = true;
      pipeline[kGoverned] = true;
      if (!this.retrySafe) {
        return Promise.resolve(this.original.apply(pipeline, this.args as never)).then(toOutcome);
      }
      this.settle = { resolve: pipeline.resolve, reject: pipeline.reject };
      const outcome = new Promise<unknown>((resolve, reject) => {
        pipeline.resolve = resolve;
        pipeline.reject = reject;
      });
      this.original.apply(pipeline, this.args as never);
      return outcome.then(toOutcome);
    }
    const copy = cloneBatch(pipeline);
    this.current = copy;
    return Promise.resolve(this.original.call(copy)).then(toOutcome);
  }

  /** Give the pipeline its own resolve/reject back (after an agent failure mid-call). */
  release(): void {
    if (this.settle === undefined) return;
    this.pipeline.resolve = this.settle.resolve;
    this.pipeline.reject = this.settle.reject;
    this.settle = undefined;
  }

  readonly onValue = (value: unknown): void => {
    if (this.settle !== undefined) this.settle.resolve((value as BatchOutcome).results);
  };

  readonly onError = (error: unknown): void => {
    if (!this.sent) rejectUnsent(this.pipeline, this.args[0], error);
    else if (this.settle !== undefined) this.settle.reject(error);
    else this.pipeline.reject(error);
  };

  /** The attempt's deadline passed: it fails now, and its unsent commands never run. */
  private expire(error: Error): void {
    const batch = this.current;
    // Reject exec() first, so commands failed below cannot resolve it with error pairs instead.
    if (batch === this.pipeline && this.settle === undefined) batch.reject(error);
    const commands = new Set<unknown>(batch._queue);
    if (removeQueued(batch.redis, commands) > 0) {
      for (const command of batch._queue) if (command.isSettled !== true) command.reject(error);
    }
  }
}

const batchAttempt = function (this: BatchRun): Promise<BatchOutcome> {
  return this.attempt();
} as Callee;

/**
 * Wraps `Pipeline.prototype.exec`, which serves `pipeline()`, `multi()` (whose
 * own `exec` calls this one) and auto-pipelining (which batches commands into
 * a pipeline per event-loop turn). One decision per exec: the breaker, bulkhead,
 * rate limit and timeout see one call; a MULTI/EXEC transaction or a batch with
 * any write is never retried.
 */
export function wrapExec(states: ClientStates, logger: Logger) {
  return (original: Exec): Exec =>
    function exec(this: PipelineLike, ...args: unknown[]): unknown {
      // Arity matters: multi()'s first pass calls the generated EXEC command with these arguments.
      const callback = args[0];
      // `_transactions > 0`: multi()'s exec queueing the EXEC command before the real send.
      if (this[kGoverned] !== undefined || this._transactions > 0 || isInternal(this.redis)) {
        return original.apply(this, args as never);
      }
      let run: BatchRun | undefined;
      let result: Promise<unknown>;
      try {
        const client = this.redis;
        if (client.condition?.subscriber) return original.apply(this, args as never);
        const state = states.get(client);
        const plan = planBatch(this._queue);
        if (plan === Plan.BreakerOnly) {
          const rejection = openCircuitError(state);
          if (rejection === undefined) {
            this[kGoverned] = true;
            return original.apply(this, args as never);
          }
          rejectUnsent(this, callback, rejection);
          return this.promise;
        }
        run = new BatchRun(
          this,
          args,
          original,
          plan === Plan.Retryable && state.retries,
          state.timed,
        );
        result = state.pipeline.execute(batchAttempt, run, NO_ARGS, run);
      } catch (error) {
        logger.once(
          'ioredis:exec',
          'error',
          'ioredis instrumentation failed; passing the batch through unprotected',
          error,
        );
        if (this[kGoverned] === undefined) return original.apply(this, args as never);
        run?.release();
        return this.promise;
      }
      result.then(run.onValue, run.onError);
      return this.promise;
    } as Exec;
}
