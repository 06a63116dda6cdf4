import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  BaldurError,
  BulkheadFullError,
  CircuitOpenError,
  ConfigError,
  CooldownError,
  ERROR_CODES,
  IdempotencyConflictError,
  RateLimitedError,
  TimeoutError,
  isBaldurError,
  protect,
  start,
} from '../../../src/index';
import { FlakyError, isolateGlobalState, rejectionOf, unique } from './helpers';

isolateGlobalState();

const PREFIX = 'Invalid Baldur configuration: ';

describe('protect() calls', () => {
  it('resolves with the return value of a sync function', async () => {
    const add = protect(unique('add'), (a: number, b: number) => a + b);
    const result = add(2, 3);
    expect(result).toBeInstanceOf(Promise);
    expect(await result).toBe(5);
  });

  it('resolves with the value of an async function', async () => {
    const fetchUser = protect(unique('user'), async (id: string) => {
      await Promise.resolve();
      return { id, name: 'Ann' };
    });
    expect(await fetchUser('u1')).toEqual({ id: 'u1', name: 'Ann' });
  });

  it('passes every argument through as given', async () => {
    const seen: unknown[][] = [];
    const record = protect(unique('args'), (...args: unknown[]) => {
      seen.push(args);
      return args.length;
    });
    const object = { nested: true };
    expect(await record(1, 'two', object, undefined)).toBe(4);
    expect(seen[0]![2]).toBe(object);
    expect(seen).toEqual([[1, 'two', object, undefined]]);
  });

  it('preserves `this` for methods and explicit calls', async () => {
    const account = {
      balance: 40,
      deposit: protect(unique('deposit'), function (this: { balance: number }, amount: number) {
        this.balance += amount;
        return this.balance;
      }),
    };
    expect(await account.deposit(2)).toBe(42);
    expect(account.balance).toBe(42);
    const other = { balance: 0 };
    expect(await account.deposit.call(other, 5)).toBe(5);
    expect(other.balance).toBe(5);
  });

  it('keeps the wrapped function name, or uses the protect() name', () => {
    function chargeCustomer(): void {}
    expect(protect('charge', chargeCustomer).name).toBe('chargeCustomer');
    expect(protect('anonymous-work', () => undefined).name).toBe('anonymous-work');
  });

  it('rejects with exactly what the function threw, sync or async', async () => {
    const error = new FlakyError('nope');
    const sync = protect(unique('sync-throw'), () => {
      throw error;
    });
    const pending = sync();
    expect(pending).toBeInstanceOf(Promise);
    expect(await rejectionOf(pending)).toBe(error);

    const async = protect(unique('async-throw'), () => Promise.reject(error));
    expect(await rejectionOf(async())).toBe(error);

    const thrownString = protect(unique('string-throw'), () => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- users do this
      throw 'plain string';
    });
    expect(await rejectionOf(thrownString())).toBe('plain string');
  });

  it('passes an AbortError through without counting it against the breaker', async () => {
    const name = unique('abort');
    const abort = Object.assign(new Error('aborted by caller'), { name: 'AbortError' });
    let calls = 0;
    const call = protect(
      name,
      () => {
        calls++;
        throw abort;
      },
      { circuitBreaker: { failureThreshold: 1 } },
    );
    expect(await rejectionOf(call())).toBe(abort);
    expect(await rejectionOf(call())).toBe(abort);
    expect(calls).toBe(2);
  });

  it('shares one pipeline between protect() calls with the same name', async () => {
    const name = unique('shared');
    const first = protect(
      name,
      () => {
        throw new FlakyError('down');
      },
      { circuitBreaker: { failureThreshold: 1 } },
    );
    let secondCalled = false;
    const second = protect(name, () => {
      secondCalled = true;
    });
    await rejectionOf(first());
    expect(await rejectionOf(second())).toBeInstanceOf(CircuitOpenError);
    expect(secondCalled).toBe(false);
  });
});

describe('protect() validation', () => {
  const message = (fn: () => unknown): string => {
    try {
      fn();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    return expect.fail('expected protect() to throw a ConfigError');
  };
  const noop = (): void => undefined;

  it.each([
    [
      'an empty name',
      () => protect('  ', noop),
      'name: protect() needs a non-empty name [protect()]',
    ],
    [
      'a non-function',
      () => protect('x', 42 as unknown as () => void),
      'fn: protect() needs a function to wrap [protect()]',
    ],
    [
      'a bad duration',
      () => protect('x', noop, { timeout: '5 parsecs' }),
      'timeout: "5 parsecs" is not a duration from 0 to 24h (e.g. "250ms", "5s", "1m", or milliseconds) [protect("x") options]',
    ],
    [
      'a misspelt key',
      () => protect('x', noop, { retyr: {} } as never),
      'retyr: is not a known key (value {}; did you mean "retry"?) [protect("x") options]',
    ],
    [
      'an out-of-range number',
      () => protect('x', noop, { retry: { maxAttempts: 0 } }),
      'retry.maxAttempts: 0 is not an integer from 1 to 100 [protect("x") options]',
    ],
    [
      'a rate limit without a limit',
      () => protect('x', noop, { rateLimit: {} as never }),
      'rateLimit.limit: is required (an integer from 1 to 1000000000) [protect("x") options]',
    ],
    [
      'a fallback that is not a function',
      () => protect('x', noop, { fallback: 'cached' as never }),
      'fallback: must be a function [protect() options]',
    ],
    [
      'an idempotency key that is not a function',
      () => protect('x', noop, { idempotency: { key: 'k' as never } }),
      'idempotency.key: must be a function [protect() options]',
    ],
    [
      'a zero idempotency ttl',
      () => protect('x', noop, { idempotency: { key: () => 'k', ttl: '0s' } }),
      'idempotency.ttl: "0s" is not a positive duration (e.g. "30s") [protect() options]',
    ],
    [
      'a bad idempotency executionTtl',
      () => protect('x', noop, { idempotency: { key: () => 'k', executionTtl: 'soon' } }),
      'idempotency.executionTtl: "soon" is not a positive duration (e.g. "30s") [protect() options]',
    ],
    [
      'an attempt timeout above the total timeout',
      () => protect('x', noop, { timeout: '5s', totalTimeout: '1s' }),
      'protect("x").timeout: per-attempt timeout (5000 ms) exceeds totalTimeout (1000 ms)',
    ],
    [
      'minimumCalls above the window',
      () => protect('x', noop, { circuitBreaker: { minimumCalls: 11, slidingWindowSize: 10 } }),
      'protect("x").circuitBreaker.minimumCalls: 11 exceeds slidingWindowSize (10), so the rate triggers could never fire',
    ],
  ])('throws at protect() time for %s', (_, fn, problem) => {
    expect(message(fn)).toBe(`${PREFIX}${problem}`);
  });

  it('accepts durations as strings or milliseconds', () => {
    expect(() =>
      protect(unique('durations'), noop, {
        timeout: 250,
        totalTimeout: '1m',
        circuitBreaker: { recoveryTimeout: '5s' },
      }),
    ).not.toThrow();
  });
});

describe('protect() retry', () => {
  const failingTimes = (failures: number) => {
    let calls = 0;
    const fn = vi.fn(() => {
      calls++;
      if (calls <= failures) throw new FlakyError(`failure ${calls}`);
      return `ok after ${calls}`;
    });
    return fn;
  };

  it('never retries unless asked', async () => {
    start({ defaults: { retry: { maxAttempts: 5, baseDelay: 0 } } });
    const fn = failingTimes(1);
    const call = protect(unique('no-retry'), fn);
    expect(await rejectionOf(call())).toEqual(new FlakyError('failure 1'));
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('retries when the options ask, returning the first success', async () => {
    const fn = failingTimes(2);
    const call = protect(unique('retry'), fn, { retry: { maxAttempts: 3, baseDelay: 0 } });
    expect(await call()).toBe('ok after 3');
    expect(fn).toHaveBeenCalledTimes(3);
  });

  it('rethrows the last error when every attempt fails', async () => {
    const fn = failingTimes(10);
    const call = protect(unique('retry-exhausted'), fn, {
      retry: { maxAttempts: 4, baseDelay: 0 },
    });
    const error = await rejectionOf(call());
    expect(error).toBeInstanceOf(FlakyError);
    expect((error as Error).message).toBe('failure 4');
    expect(fn).toHaveBeenCalledTimes(4);
  });

  it('retry: true uses the configured defaults', async () => {
    start({ defaults: { retry: { baseDelay: 0, maxAttempts: 2 } } });
    const fn = failingTimes(10);
    await rejectionOf(protect(unique('retry-true'), fn, { retry: true })());
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it('retries when a dependencies[] entry matching the name asks', async () => {
    const name = unique('retry-by-config');
    start({ dependencies: [{ match: { name }, retry: { maxAttempts: 3, baseDelay: 0 } }] });
    const fn = failingTimes(10);
    await rejectionOf(protect(name, fn)());
    expect(fn).toHaveBeenCalledTimes(3);
  });

  it('asks retryIf which failures to retry', async () => {
    const fn = vi.fn(() => {
      throw Object.assign(new Error('bad request'), { status: 400 });
    });
    const call = protect(unique('retry-if'), fn, {
      retry: { maxAttempts: 5, baseDelay: 0 },
      retryIf: outcome => !outcome.ok && (outcome.error as { status?: number }).status !== 400,
    });
    await rejectionOf(call());
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('stops retrying as soon as the breaker opens', async () => {
    const fn = failingTimes(10);
    const call = protect(unique('retry-breaker'), fn, {
      retry: { maxAttempts: 5, baseDelay: 0 },
      circuitBreaker: { failureThreshold: 2 },
    });
    expect(await rejectionOf(call())).toEqual(new FlakyError('failure 2'));
    expect(fn).toHaveBeenCalledTimes(2);
  });
});

describe('protect() typed rejections', () => {
  it('rejects with CircuitOpenError once the breaker opens, without calling the function', async () => {
    const name = unique('breaker');
    const fn = vi.fn(() => {
      throw new FlakyError('down');
    });
    const call = protect(name, fn, {
      circuitBreaker: { failureThreshold: 1, recoveryTimeout: '30s' },
    });
    await rejectionOf(call());
    const error = await rejectionOf(call());
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect(error).toBeInstanceOf(BaldurError);
    expect(isBaldurError(error)).toBe(true);
    expect(error).toMatchObject({
      code: ERROR_CODES.CIRCUIT_OPEN,
      dependency: name,
      state: 'open',
      message: `Circuit breaker for "${name}" is open`,
    });
    const { retryAfterMs } = error as CircuitOpenError;
    expect(retryAfterMs).toBeGreaterThan(0);
    expect(retryAfterMs).toBeLessThanOrEqual(30_000);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('rejects with BulkheadFullError when the bulkhead and its queue are full', async () => {
    const name = unique('bulkhead');
    let release!: () => void;
    const call = protect(
      name,
      () => new Promise<string>(resolve => (release = () => resolve('done'))),
      {
        bulkhead: { maxConcurrent: 1, maxQueue: 0 },
      },
    );
    const first = call();
    const error = await rejectionOf(call());
    expect(error).toBeInstanceOf(BulkheadFullError);
    expect(error).toMatchObject({
      code: ERROR_CODES.BULKHEAD_FULL,
      dependency: name,
      reason: 'queue_full',
      message: `Bulkhead for "${name}" is full`,
    });
    release();
    expect(await first).toBe('done');
    // The slot is free again.
    const third = call();
    release();
    expect(await third).toBe('done');
  });

  it('rejects with RateLimitedError beyond the limit', async () => {
    const name = unique('rate');
    const fn = vi.fn(() => 'ok');
    const call = protect(name, fn, { rateLimit: { limit: 2, per: '1h' } });
    expect(await call()).toBe('ok');
    expect(await call()).toBe('ok');
    const error = await rejectionOf(call());
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({
      code: ERROR_CODES.RATE_LIMITED,
      dependency: name,
      message: `Rate limit for "${name}" exceeded`,
    });
    expect((error as RateLimitedError).retryAfterMs).toBeGreaterThan(0);
    expect((error as RateLimitedError).retryAfterMs).toBeLessThanOrEqual(1_800_000);
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it('rejects with CooldownError after a failure asked callers to back off', async () => {
    const name = unique('cooldown');
    const fn = vi.fn(() => {
      throw Object.assign(new Error('429 Too Many Requests'), { retryAfterMs: 60_000 });
    });
    const call = protect(name, fn);
    await rejectionOf(call());
    const error = await rejectionOf(call());
    expect(error).toBeInstanceOf(CooldownError);
    expect(error).toMatchObject({ code: ERROR_CODES.COOLDOWN, dependency: name });
    expect((error as CooldownError).retryAfterMs).toBeGreaterThan(0);
    expect((error as CooldownError).retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('ignores a Retry-After hint with cooldown: false', async () => {
    const fn = vi.fn(() => {
      throw Object.assign(new Error('429'), { retryAfterMs: 60_000 });
    });
    const call = protect(unique('no-cooldown'), fn, { cooldown: false });
    await rejectionOf(call());
    await rejectionOf(call());
    expect(fn).toHaveBeenCalledTimes(2);
  });

  describe('timeouts (fake timers)', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('rejects with TimeoutError when an attempt runs too long', async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
      const name = unique('timeout');
      const call = protect(name, () => new Promise(() => undefined), { timeout: '250ms' });
      const outcome = rejectionOf(call());
      await vi.advanceTimersByTimeAsync(253); // 250 ms and its deadline's 3 ms tick
      const error = await outcome;
      expect(error).toBeInstanceOf(TimeoutError);
      expect(error).toMatchObject({
        code: ERROR_CODES.TIMEOUT,
        dependency: name,
        scope: 'attempt',
        timeoutMs: 250,
        message: `Call to "${name}" timed out after 250 ms (attempt)`,
      });
    });

    it('signal: true appends an AbortSignal that aborts when the timeout fires', async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
      const signals: AbortSignal[] = [];
      const call = protect(
        unique('signal'),
        (id: string, signal: AbortSignal) => {
          signals.push(signal);
          return new Promise((_, reject) => {
            signal.addEventListener('abort', () => reject(new Error(`cancelled ${id}`)));
          });
        },
        { timeout: 100, signal: true },
      ) as unknown as (id: string) => Promise<unknown>;
      const outcome = rejectionOf(call('job-1'));
      await vi.advanceTimersByTimeAsync(100);
      expect(signals).toHaveLength(1);
      expect(signals[0]!.aborted).toBe(false); // never early: fires within its 1 ms tick
      await vi.advanceTimersByTimeAsync(1);
      const error = await outcome;
      expect(error).toBeInstanceOf(TimeoutError);
      expect(signals[0]!.aborted).toBe(true);
      expect(signals[0]!.reason).toBe(error);
    });

    it('signal: true without a timeout passes a signal that never aborts', async () => {
      const call = protect(unique('signal-no-timeout'), (signal: AbortSignal) => signal, {
        signal: true,
      }) as unknown as () => Promise<AbortSignal>;
      const signal = await call();
      expect(signal).toBeInstanceOf(AbortSignal);
      expect(signal.aborted).toBe(false);
    });

    it('bounds the whole call, retries included, with totalTimeout', async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
      const name = unique('total');
      const fn = vi.fn(() => new Promise(() => undefined));
      const call = protect(name, fn, {
        timeout: '100ms',
        totalTimeout: '250ms',
        retry: { maxAttempts: 10, baseDelay: 0 },
      });
      const outcome = rejectionOf(call());
      await vi.advanceTimersByTimeAsync(253); // 250 ms and its deadline's 3 ms tick
      const error = await outcome;
      expect(error).toMatchObject({ code: ERROR_CODES.TIMEOUT, scope: 'total' });
      expect(fn).toHaveBeenCalledTimes(3);
    });
  });
});

describe('protect() fallback', () => {
  it('returns the fallback value when the call fails, with the error and arguments', async () => {
    const error = new FlakyError('down');
    const fallback = vi.fn((_error: unknown, id: string) => ({ id, queued: true }));
    const call = protect(
      unique('fallback'),
      (_id: string): { id: string; queued: boolean } => {
        throw error;
      },
      { fallback },
    );
    expect(await call('o-1')).toEqual({ id: 'o-1', queued: true });
    expect(fallback).toHaveBeenCalledWith(error, 'o-1');
  });

  it('falls back on Baldur rejections too', async () => {
    const fallback = vi.fn((_error: unknown) => 'cached');
    const call = protect(
      unique('fallback-open'),
      () => {
        throw new FlakyError('down');
      },
      { circuitBreaker: { failureThreshold: 1 }, fallback },
    );
    expect(await call()).toBe('cached');
    expect(await call()).toBe('cached');
    expect(fallback.mock.calls[1]![0]).toBeInstanceOf(CircuitOpenError);
  });

  it('is not used when the call succeeds', async () => {
    const fallback = vi.fn(() => 'cached');
    expect(await protect(unique('fallback-unused'), () => 'fresh', { fallback })()).toBe('fresh');
    expect(fallback).not.toHaveBeenCalled();
  });

  it('propagates an error thrown by the fallback', async () => {
    const fallbackError = new Error('no cache either');
    const call = protect(
      unique('fallback-throws'),
      () => {
        throw new FlakyError('down');
      },
      {
        fallback: () => {
          throw fallbackError;
        },
      },
    );
    expect(await rejectionOf(call())).toBe(fallbackError);
  });

  it('awaits an async fallback', async () => {
    const call = protect(
      unique('fallback-async'),
      (): Promise<string> => Promise.reject(new FlakyError('x')),
      {
        fallback: async () => Promise.resolve('later'),
      },
    );
    expect(await call()).toBe('later');
  });
});

describe('protect() idempotency', () => {
  it('runs a key once and replays the stored result to duplicates', async () => {
    const fn = vi.fn((orderId: string, amount: number) => ({ orderId, charged: amount }));
    const charge = protect(unique('charge'), fn, {
      idempotency: { key: (orderId: string) => orderId },
    });
    expect(await charge('o-1', 5)).toEqual({ orderId: 'o-1', charged: 5 });
    expect(await charge('o-1', 999)).toEqual({ orderId: 'o-1', charged: 5 });
    expect(await charge('o-2', 7)).toEqual({ orderId: 'o-2', charged: 7 });
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it('replays a JSON copy of the stored result', async () => {
    const charge = protect(unique('json'), (_key: string) => ({ at: new Date(0), n: 1 }), {
      idempotency: { key: (key: string) => key },
    });
    expect(await charge('k')).toEqual({ at: new Date(0), n: 1 });
    expect(await charge('k')).toEqual({ at: '1970-01-01T00:00:00.000Z', n: 1 });
  });

  it('releases the key after a failure so the next call executes', async () => {
    let calls = 0;
    const fn = vi.fn((_key: string) => {
      calls++;
      if (calls === 1) throw new FlakyError('first try failed');
      return 'second try';
    });
    const call = protect(unique('release'), fn, { idempotency: { key: (key: string) => key } });
    await rejectionOf(call('k'));
    expect(await call('k')).toBe('second try');
    expect(await call('k')).toBe('second try');
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it('rejects a duplicate that arrives while the first is still running', async () => {
    const name = unique('in-flight');
    let finish!: (value: string) => void;
    const fn = vi.fn((_key: string) => new Promise<string>(resolve => (finish = resolve)));
    const call = protect(name, fn, {
      idempotency: { key: (key: string) => key, executionTtl: '30s' },
    });
    const first = call('k');
    await vi.waitFor(() => expect(fn).toHaveBeenCalledTimes(1), { interval: 1 });
    const error = await rejectionOf(call('k'));
    expect(error).toBeInstanceOf(IdempotencyConflictError);
    expect(error).toMatchObject({
      code: ERROR_CODES.IDEMPOTENCY_CONFLICT,
      dependency: name,
      key: 'k',
      status: 'executing',
      message: 'Idempotency key "k" is being executed elsewhere',
    });
    expect((error as IdempotencyConflictError).retryAfterMs).toBeGreaterThan(30_000);
    expect((error as IdempotencyConflictError).retryAfterMs).toBeLessThanOrEqual(35_000);
    finish('done');
    expect(await first).toBe('done');
    expect(await call('k')).toBe('done');
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('rejects duplicates of a completed call whose result could not be stored', async () => {
    const fn = vi.fn((_key: string) => ({ big: 10n }));
    const call = protect(unique('unstorable'), fn, { idempotency: { key: (key: string) => key } });
    expect(await call('k')).toEqual({ big: 10n });
    const error = await rejectionOf(call('k'));
    expect(error).toMatchObject({
      code: ERROR_CODES.IDEMPOTENCY_CONFLICT,
      status: 'completed',
      message: 'Idempotency key "k" already completed and has no stored result',
    });
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('skips the gate when the key function returns undefined', async () => {
    const fn = vi.fn((_key?: string) => 'ran');
    const call = protect(unique('no-key'), fn, {
      idempotency: { key: (key?: string) => key },
    });
    await call();
    await call();
    expect(fn).toHaveBeenCalledTimes(2);
  });
});
