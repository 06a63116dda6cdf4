import type { RetryBudgetOptions } from './options';

/**
 * Caps retries at a fraction of recent calls (plus a small floor), so that a
 * struggling dependency sees at most `1 + ratio` times its normal load instead
 * of `maxAttempts` times.
 *
 * The pipeline already counts calls; the budget reads that running total only
 * when a retry is considered, so the happy path pays nothing here — not even a
 * clock read. Calls are spread over two windows (the classic sliding-window
 * counter): when a window is rolled after a quiet spell, its count is scaled to
 * one window's worth, assuming the calls were evenly spread.
 */
export class RetryBudget {
  private windowStartMs: number;
  private callsAtWindowStart = 0;
  private currentRetries = 0;
  private previousCalls = 0;
  private previousRetries = 0;

  constructor(
    private readonly options: RetryBudgetOptions,
    nowMs: number,
  ) {
    this.windowStartMs = nowMs;
  }

  /** Take one retry from the budget if there is room. `totalCalls` is the pipeline's running call count. */
  tryRetry(nowMs: number, totalCalls: number): boolean {
    const { ratio, minPerSecond, windowMs } = this.options;
    let elapsed = nowMs - this.windowStartMs;
    if (elapsed >= windowMs) {
      const scale = windowMs / elapsed;
      this.previousCalls = (totalCalls - this.callsAtWindowStart) * scale;
      this.previousRetries = this.currentRetries * scale;
      this.currentRetries = 0;
      this.callsAtWindowStart = totalCalls;
      this.windowStartMs = nowMs;
      elapsed = 0;
    }
    const previousWeight = 1 - elapsed / windowMs;
    const calls = totalCalls - this.callsAtWindowStart + this.previousCalls * previousWeight;
    const retries = this.currentRetries + this.previousRetries * previousWeight;
    if (retries + 1 > minPerSecond * (windowMs / 1000) + ratio * calls) return false;
    this.currentRetries++;
    return true;
  }
}
