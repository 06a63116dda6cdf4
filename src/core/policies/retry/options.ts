import type { Outcome } from '../../outcome';

export type BackoffKind = 'exponential' | 'linear' | 'constant' | 'decorrelated';

export interface RetryBudgetOptions {
  /** Retries may add at most this fraction of calls over the window (0.2 = 20 %). */
  readonly ratio: number;
  /** Retries always allowed per second regardless of traffic, so quiet services can still retry. */
  readonly minPerSecond: number;
  /** Length of the sliding window the ratio is measured over. */
  readonly windowMs: number;
}

/** Resolved retry settings. Durations are milliseconds. */
export interface RetryOptions {
  /** Attempts in total, including the first call. 1 disables retrying. */
  readonly maxAttempts: number;
  readonly backoff: BackoffKind;
  /** First delay (exponential, constant) or the step (linear); the floor for decorrelated jitter. */
  readonly baseDelayMs: number;
  /** No delay — after jitter — ever exceeds this. */
  readonly maxDelayMs: number;
  /** Growth factor for exponential backoff. */
  readonly multiplier: number;
  /** Relative jitter: 0.2 spreads each delay uniformly over ±20 %. */
  readonly jitter: number;
  /** Stop retrying once this much time has passed since the call started (0 = no limit). */
  readonly maxElapsedMs: number;
  /** Fleet-friendly cap on retry volume; `undefined` turns it off. */
  readonly budget: RetryBudgetOptions | undefined;
  /**
   * Extra say over which failed outcomes are retried (errors and returned
   * results alike). Only consulted for outcomes the classifier calls failures,
   * and only when the operation is safe to repeat.
   */
  readonly retryIf: ((outcome: Outcome) => boolean) | undefined;
}

export const RETRY_BUDGET_DEFAULTS: RetryBudgetOptions = Object.freeze({
  ratio: 0.2,
  minPerSecond: 10,
  windowMs: 10_000,
});

export const RETRY_DEFAULTS: RetryOptions = Object.freeze({
  maxAttempts: 3,
  backoff: 'exponential',
  baseDelayMs: 100,
  maxDelayMs: 5_000,
  multiplier: 2,
  jitter: 0.2,
  maxElapsedMs: 0,
  budget: RETRY_BUDGET_DEFAULTS,
  retryIf: undefined,
});
