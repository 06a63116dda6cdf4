import type { RetryOptions } from './options';

/**
 * Delay before retry number `retry` (1 = the first retry). `previousDelayMs` is
 * the last delay used (decorrelated jitter grows from it). `random` returns
 * [0, 1). The result never exceeds `maxDelayMs`, jitter included.
 */
export function backoffDelayMs(
  options: RetryOptions,
  retry: number,
  previousDelayMs: number,
  random: () => number,
): number {
  const { baseDelayMs, maxDelayMs } = options;
  let delay: number;
  switch (options.backoff) {
    case 'constant':
      delay = baseDelayMs;
      break;
    case 'linear':
      delay = baseDelayMs * retry;
      break;
    case 'exponential':
      // Capped exponent: 2^1100 is Infinity, and Infinity * 0 jitter is NaN. A zero base stays
      // zero: 0 * Infinity (a large multiplier) would be NaN, which the cap below turns into maxDelay.
      delay =
        baseDelayMs === 0
          ? 0
          : baseDelayMs * Math.pow(options.multiplier, Math.min(retry - 1, 1000));
      break;
    case 'decorrelated': {
      // "Decorrelated jitter" (AWS architecture blog): uniform in [base, previous * 3].
      const upper = Math.max(baseDelayMs, previousDelayMs * 3);
      return Math.min(maxDelayMs, baseDelayMs + random() * (upper - baseDelayMs));
    }
  }
  if (!Number.isFinite(delay) || delay > maxDelayMs) delay = maxDelayMs;
  if (options.jitter > 0) delay = delay * (1 + options.jitter * (2 * random() - 1));
  return Math.min(maxDelayMs, Math.max(0, delay));
}
