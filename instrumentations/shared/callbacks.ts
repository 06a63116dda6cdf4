/**
 * Calling application callbacks from agent code. When a driver calls a
 * callback that throws, the exception escapes as an uncaught exception; when
 * the agent calls it from a promise handler (to deliver a rejection such as an
 * open circuit), the same throw would become an unhandled rejection instead.
 * `invokeCallback` keeps the driver's behaviour: the throw is re-raised on the
 * next tick, outside any promise.
 */
type AnyCallback = (this: unknown, ...args: never[]) => unknown;

function rethrow(error: unknown): never {
  throw error;
}

export function invokeCallback(
  callback: AnyCallback,
  thisArg: unknown,
  args: readonly unknown[],
): void {
  try {
    callback.apply(thisArg, args as never[]);
  } catch (error) {
    process.nextTick(rethrow, error);
  }
}

/** Calls nothing; handed to callbacks that expect a `done`/`release` function on error paths. */
export function noop(): void {}

/**
 * Adopt `promise` into the promise type the library would have returned (pg
 * still accepts a custom `Promise` constructor). Free for native promises.
 */
export function adoptPromise(PromiseType: unknown, promise: Promise<unknown>): unknown {
  if (PromiseType === undefined || PromiseType === Promise || typeof PromiseType !== 'function')
    return promise;
  const Custom = PromiseType as PromiseConstructor;
  return new Custom((resolve, reject) => {
    promise.then(resolve, reject);
  });
}
