import {
  NOT_RETRY_SAFE_CALL,
  RETRY_SAFE_CALL,
  type CallOptions,
} from '../../src/core/pipeline/options';
import type { Callee } from '../../src/core/pipeline/pipeline';
import type { Logger } from '../../src/log';
import { isInternal } from '../shared/internal';
import {
  kGoverned,
  noop,
  openCircuitError,
  removeQueued,
  type ClientLike,
  type ClientStates,
  type CommandLike,
} from './client';
import { BYPASS, READ_ONLY, TX_END, TX_START, commandKind, isBlocking } from './retry-safety';

type SendCommand = (this: unknown, ...args: never[]) => unknown;

/**
 * A command under a configured timeout. When the deadline fires, the attempt's
 * Command is rejected with the timeout (so a node-style callback hears about it
 * and ioredis drops its timers) and, if it was still waiting in the offline
 * queue, taken out so it never runs behind the app's back.
 */
class TimedCommand implements CallOptions {
  readonly onTimeout: (error: Error) => void;
  /** The Command of the running attempt: the app's, then each retry's. */
  current: CommandLike;

  constructor(
    readonly retrySafe: boolean,
    client: ClientLike,
    command: CommandLike,
  ) {
    this.current = command;
    this.onTimeout = error => {
      const current = this.current;
      removeQueued(client, new Set([current]));
      if (current.isSettled !== true) current.reject(error);
    };
  }
}

/**
 * A retry is a new Command with the same (already prefixed and serialized)
 * arguments: the app's Command has settled with the failed attempt and its
 * promise cannot be reused. No callback: the outcome reaches the app through
 * the promise the wrapper returned.
 */
function cloneCommand(command: CommandLike): CommandLike {
  const Command = command.constructor as new (
    name: string,
    args: unknown[],
    options: { replyEncoding?: unknown; errorStack?: unknown },
  ) => CommandLike;
  const retry = new Command(command.name, command.args.slice(), {
    replyEncoding: command.replyEncoding,
    errorStack: command.errorStack,
  });
  if (command.isReadOnly === true) retry.isReadOnly = true;
  retry[kGoverned] = true;
  return retry;
}

/** Call through with the arguments the caller gave (ioredis and other wrappers may count them). */
function pass(
  original: SendCommand,
  client: ClientLike,
  command: CommandLike,
  stream: unknown,
  node: unknown,
): unknown {
  if (node !== undefined)
    return original.call(client, command as never, stream as never, node as never);
  if (stream !== undefined) return original.call(client, command as never, stream as never);
  return original.call(client, command as never);
}

/** One attempt: the app's own Command first, a fresh clone for every retry. */
function makeAttempt(original: SendCommand): Callee {
  return function attempt(this: ClientLike, command: CommandLike, timed?: TimedCommand): unknown {
    if (command[kGoverned] === undefined) {
      command[kGoverned] = true;
      return original.call(this, command as never);
    }
    const retry = cloneCommand(command);
    if (timed !== undefined) timed.current = retry;
    return original.call(this, retry as never);
  } as Callee;
}

/**
 * A command the pipeline turned away (open breaker, full bulkhead, rate limit)
 * was never sent: settle it with the same rejection so its node-style callback
 * runs and a span another instrumentation opened around it ends. The app's own
 * rejection comes through the promise the wrapper returned, so the Command's
 * promise gets a handler and never reports as unhandled.
 */
function settleUnsent(command: CommandLike, error: unknown): void {
  if (command[kGoverned] !== undefined) return;
  command[kGoverned] = true;
  command.promise.then(undefined, noop);
  command.reject(error);
}

/**
 * Wraps `Redis.prototype.sendCommand(command, stream)` and
 * `Cluster.prototype.sendCommand(command, stream, node)`. Only a command sent on
 * its own is governed here: a second argument means a pipeline or MULTI is
 * writing it, and that batch is governed once at `Pipeline#exec` (refusing one
 * command inside it would leave ioredis waiting forever for the rest of the
 * batch to be written).
 */
export function wrapSendCommand(states: ClientStates, logger: Logger) {
  return (original: SendCommand): SendCommand => {
    const attempt = makeAttempt(original);
    return function sendCommand(
      this: ClientLike,
      command: CommandLike,
      stream?: unknown,
      node?: unknown,
    ): unknown {
      if (
        isInternal(this) ||
        stream !== undefined ||
        node !== undefined ||
        typeof command !== 'object' ||
        command === null ||
        command[kGoverned] !== undefined
      ) {
        return pass(original, this, command, stream, node);
      }
      let state;
      let kind;
      try {
        kind = commandKind(command.name);
        // Connection state first, before the client gets a dependency: a Cluster's node connections
        // only ever see these (their commands arrive already governed by the Cluster).
        if ((kind & BYPASS) !== 0) {
          if ((kind & (TX_START | TX_END)) !== 0)
            states.get(this).inMulti = (kind & TX_START) !== 0;
          return pass(original, this, command, stream, node);
        }
        // RESP2 subscriber mode (or subscriptions on a RESP3 connection): nothing to police.
        if (this.condition?.subscriber) return pass(original, this, command, stream, node);
        state = states.get(this);
        if (state.inMulti) return pass(original, this, command, stream, node);
        if (isBlocking(kind, command.args)) {
          const rejection = openCircuitError(state);
          if (rejection === undefined) {
            // Decided here: a Cluster's node connection must not police it again under the node's key.
            command[kGoverned] = true;
            return pass(original, this, command, stream, node);
          }
          // Deferred, as the pipeline's rejections are: an outer wrapper finishes its setup first.
          queueMicrotask(() => settleUnsent(command, rejection));
          return command.promise;
        }
      } catch (error) {
        logger.once(
          'ioredis:plan',
          'error',
          'ioredis instrumentation failed; passing the command through unprotected',
          error,
        );
        return pass(original, this, command, stream, node);
      }

      const retrySafe = state.retries && (kind & READ_ONLY) !== 0 && command.callback === undefined;
      let result: Promise<unknown>;
      try {
        if (state.timed) {
          const timed = new TimedCommand(retrySafe, this, command);
          result = state.pipeline.execute(attempt, this, [command, timed], timed);
        } else {
          result = state.pipeline.execute(
            attempt,
            this,
            [command],
            retrySafe ? RETRY_SAFE_CALL : NOT_RETRY_SAFE_CALL,
          );
        }
      } catch (error) {
        logger.once(
          'ioredis:execute',
          'error',
          'ioredis instrumentation failed; passing the command through unprotected',
          error,
        );
        return command[kGoverned] === undefined
          ? original.call(this, command as never)
          : command.promise;
      }
      if (command[kGoverned] === undefined) {
        // Not sent yet: turned away, or waiting for a bulkhead slot or rate-limit permit.
        result.then(undefined, (error: unknown) => settleUnsent(command, error));
      } else if (command.callback !== undefined) {
        // The callback hears the outcome through the Command; our promise must not go unhandled.
        result.then(undefined, noop);
      }
      return result;
    } as SendCommand;
  };
}
