import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from '../../../src/core/policies/retry/backoff';
import { RETRY_DEFAULTS, type RetryOptions } from '../../../src/core/policies/retry/options';
import { RetryBudget } from '../../../src/core/policies/retry/retry-budget';

function retryOptions(overrides: Partial<RetryOptions>): RetryOptions {
  return { ...RETRY_DEFAULTS, jitter: 0, ...overrides };
}

/** A "random" that always returns `value`. */
const fixed = (value: number) => () => value;

describe('backoffDelayMs', () => {
  it('exponential: base × multiplier^(retry − 1), capped at maxDelay', () => {
    const options = retryOptions({
      backoff: 'exponential',
      baseDelayMs: 100,
      multiplier: 3,
      maxDelayMs: 5_000,
    });
    const delays = [1, 2, 3, 4, 5].map(retry => backoffDelayMs(options, retry, 0, fixed(0.5)));
    expect(delays).toEqual([100, 300, 900, 2_700, 5_000]);
  });

  it('linear: base × retry', () => {
    const options = retryOptions({ backoff: 'linear', baseDelayMs: 250, maxDelayMs: 1_000 });
    const delays = [1, 2, 3, 4, 5].map(retry => backoffDelayMs(options, retry, 0, fixed(0.5)));
    expect(delays).toEqual([250, 500, 750, 1_000, 1_000]);
  });

  it('constant: always base', () => {
    const options = retryOptions({ backoff: 'constant', baseDelayMs: 400 });
    expect([1, 7, 99].map(retry => backoffDelayMs(options, retry, 123, fixed(0.9)))).toEqual([
      400, 400, 400,
    ]);
  });

  it('decorrelated: uniform in [base, previous × 3], capped', () => {
    const options = retryOptions({ backoff: 'decorrelated', baseDelayMs: 100, maxDelayMs: 2_000 });
    expect(backoffDelayMs(options, 1, 0, fixed(0))).toBe(100);
    expect(backoffDelayMs(options, 1, 0, fixed(0.999))).toBe(100); // no previous delay: the floor
    expect(backoffDelayMs(options, 2, 300, fixed(0))).toBe(100);
    expect(backoffDelayMs(options, 2, 300, fixed(0.5))).toBe(100 + 0.5 * (900 - 100));
    expect(backoffDelayMs(options, 3, 1_500, fixed(0.75))).toBe(2_000);
  });

  it('jitter spreads the delay over ±jitter with the injected random', () => {
    const options = retryOptions({ backoff: 'constant', baseDelayMs: 1_000, jitter: 0.2 });
    expect(backoffDelayMs(options, 1, 0, fixed(0))).toBeCloseTo(800, 9);
    expect(backoffDelayMs(options, 1, 0, fixed(0.5))).toBeCloseTo(1_000, 9);
    expect(backoffDelayMs(options, 1, 0, fixed(0.75))).toBeCloseTo(1_100, 9);
  });

  it('jitter on a delay already at maxDelay never goes above it', () => {
    const options = retryOptions({
      backoff: 'exponential',
      baseDelayMs: 1_000,
      maxDelayMs: 1_000,
      jitter: 0.5,
    });
    expect(backoffDelayMs(options, 1, 0, fixed(0.999))).toBe(1_000);
    expect(backoffDelayMs(options, 1, 0, fixed(0))).toBe(500);
  });

  const anyOptions = fc.record({
    maxAttempts: fc.integer({ min: 1, max: 100 }),
    backoff: fc.constantFrom('exponential', 'linear', 'constant', 'decorrelated' as const),
    baseDelayMs: fc.integer({ min: 0, max: 3_600_000 }),
    maxDelayMs: fc.integer({ min: 0, max: 86_400_000 }),
    multiplier: fc.double({ min: 1, max: 100, noNaN: true }),
    jitter: fc.double({ min: 0, max: 1, noNaN: true }),
    maxElapsedMs: fc.constant(0),
    budget: fc.constant(undefined),
    retryIf: fc.constant(undefined),
  });
  const anyRandom = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

  it('never exceeds maxDelayMs and is never negative, jitter included (property)', () => {
    fc.assert(
      fc.property(
        anyOptions,
        fc.integer({ min: 1, max: 200 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        anyRandom,
        (options, retry, previousShare, r) => {
          const previous = previousShare * options.maxDelayMs;
          const delay = backoffDelayMs(options, retry, previous, () => r);
          return Number.isFinite(delay) && delay >= 0 && delay <= options.maxDelayMs;
        },
      ),
      { seed: 7, numRuns: 2_000 },
    );
  });

  it('huge attempt numbers give a finite delay, never NaN or Infinity (property)', () => {
    fc.assert(
      fc.property(
        anyOptions,
        fc.oneof(
          fc.integer({ min: 1_000, max: Number.MAX_SAFE_INTEGER }),
          fc.constant(Number.MAX_VALUE),
        ),
        // The previous delay is one this function returned: within [0, maxDelay].
        fc.double({ min: 0, max: 1, noNaN: true }),
        anyRandom,
        (options, retry, previousShare, r) => {
          const previous = previousShare * options.maxDelayMs;
          const delay = backoffDelayMs(options, retry, previous, () => r);
          return Number.isFinite(delay) && delay >= 0 && delay <= options.maxDelayMs;
        },
      ),
      { seed: 11, numRuns: 1_000 },
    );
  });

  it('a zero base delay means no delay, whatever the attempt number', () => {
    for (const backoff of ['exponential', 'linear', 'constant'] as const) {
      const options = retryOptions({ backoff, baseDelayMs: 0, multiplier: 100, maxDelayMs: 5_000 });
      for (const retry of [1, 2, 50, 10_000, Number.MAX_SAFE_INTEGER]) {
        expect(backoffDelayMs(options, retry, 0, fixed(0.3))).toBe(0);
      }
    }
  });

  it('without jitter, exponential delays never shrink from one retry to the next (property)', () => {
    fc.assert(
      fc.property(anyOptions, fc.integer({ min: 1, max: 2_000 }), (options, retry) => {
        const o = { ...options, backoff: 'exponential' as const, jitter: 0 };
        return (
          backoffDelayMs(o, retry + 1, 0, fixed(0.5)) >= backoffDelayMs(o, retry, 0, fixed(0.5))
        );
      }),
      { seed: 3, numRuns: 1_000 },
    );
  });
});

describe('RetryBudget', () => {
  const budget = (ratio: number, minPerSecond: number, windowMs = 1_000, startMs = 0) =>
    new RetryBudget({ ratio, minPerSecond, windowMs }, startMs);

  /** Take retries until refused; returns how many were granted (bounded for safety). */
  function drain(b: RetryBudget, nowMs: number, calls: number, max = 10_000): number {
    let granted = 0;
    while (granted < max && b.tryRetry(nowMs, calls)) granted++;
    return granted;
  }

  it('allows ratio × calls retries within a window', () => {
    const b = budget(0.2, 0);
    expect(drain(b, 500, 100)).toBe(20);
  });

  it('minPerSecond is a floor that lets quiet services retry', () => {
    const b = budget(0.2, 10, 2_000);
    expect(drain(b, 10, 0)).toBe(20); // 10/s over a 2 s window, no traffic at all
  });

  it('floor and ratio add up', () => {
    const b = budget(0.5, 3);
    expect(drain(b, 0, 10)).toBe(3 + 5);
  });

  it('the allowance grows with the calls made in the window', () => {
    const b = new RetryBudget({ ratio: 0.5, minPerSecond: 0, windowMs: 1_000 }, 0);
    expect(b.tryRetry(0, 0)).toBe(false);
    expect(drain(b, 100, 4)).toBe(2);
    expect(drain(b, 200, 10)).toBe(3); // 10 calls: 5 retries in all
  });

  it('a rolled window carries the previous window over, weighted by how much of it still overlaps', () => {
    const b = budget(0.5, 0, 1_000);
    expect(drain(b, 0, 20)).toBe(10);
    // Just rolled: the previous window (20 calls, 10 retries) still counts in full.
    expect(b.tryRetry(1_000, 20)).toBe(false);
    // Half-way through the next window: 10 of those calls and 5 of those retries still count;
    // with 6 new calls: 0.5 × (6 + 10) = 8 allowed, 5 used → 3 more.
    expect(drain(b, 1_500, 26)).toBe(3);
  });

  it('recovers completely after a quiet spell of two windows', () => {
    const b = budget(0.5, 0, 1_000);
    expect(drain(b, 0, 20)).toBe(10);
    expect(b.tryRetry(1_000, 20)).toBe(false); // rolls: previous = 20 calls, 10 retries
    // Two windows later nothing of that remains: 4 fresh calls allow 2 retries.
    expect(b.tryRetry(3_000, 20)).toBe(false); // rolls again: 0 calls in the last window
    expect(drain(b, 3_000, 24)).toBe(2);
  });

  it('scales a window that rolled after a long silence to one window’s worth', () => {
    const b = budget(1, 0, 1_000);
    // 100 calls in the first window, no retries, then the first retry only 4 windows later:
    // the 100 calls are spread over 4 s, so one window's worth is 25.
    expect(b.tryRetry(4_000, 100)).toBe(true);
    expect(drain(b, 4_000, 100)).toBe(24);
  });

  it('retries never exceed floor + ratio × calls over any simulated run (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 2, noNaN: true }),
        fc.integer({ min: 0, max: 20 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 30 })), {
          maxLength: 60,
        }),
        (ratio, minPerSecond, steps) => {
          const windowMs = 1_000;
          const b = budget(ratio, minPerSecond, windowMs);
          let now = 0;
          let calls = 0;
          let retries = 0;
          for (const [advance, newCalls] of steps) {
            now += advance;
            calls += newCalls;
            retries += drain(b, now, calls, 100_000);
          }
          // Over the whole run, at most the floor for every window started, plus the ratio.
          const windows = Math.floor(now / windowMs) + 2;
          return retries <= minPerSecond * windows + ratio * calls + 1e-9;
        },
      ),
      { seed: 99, numRuns: 300 },
    );
  });
});
