import type { RateLimitOptions } from './options';

/**
 * Rounding slack for GCRA arithmetic. With a fractional interval (7 per second)
 * sums drift by a few ulps, and at large clock values (days of uptime, or epoch
 * milliseconds in a shared store) one ulp is a sizeable fraction of a
 * millisecond; neither may cost a permit of the burst.
 */
export function gcraToleranceMs(nowMs: number, intervalMs: number): number {
  return Math.max(intervalMs * 1e-9, Math.abs(nowMs) * 16 * Number.EPSILON);
}

/** `acquire` result when no permit can be had within `maxWaitMs`. */
export const NO_PERMIT = -1;

/**
 * `acquire` result when the answer needs a refill from elsewhere (a fleet-wide
 * limiter whose leased permits ran out): call `acquireAsync`. Local limiters
 * never return it.
 */
export const NEEDS_REFILL = -2;

/** What the pipeline needs from a rate limiter, local or fleet-wide. */
export interface PermitSource {
  /**
   * Reserve a permit: the delay (≥ 0 ms) the caller must wait before using it,
   * `NO_PERMIT`, in which case `retryAfterMs` says when to try again, or
   * `NEEDS_REFILL` (only sources that implement `acquireAsync`).
   */
  acquire(nowMs: number): number;
  /**
   * The slow path after `NEEDS_REFILL`: resolves like `acquire` (a delay or
   * `NO_PERMIT`, never `NEEDS_REFILL`), within a bounded time, and never rejects.
   */
  acquireAsync?(nowMs: number): Promise<number>;
  readonly retryAfterMs: number;
  readonly options: RateLimitOptions;
}

/**
 * Generic cell rate algorithm: a token bucket kept as one number, the
 * theoretical arrival time of the next permit. Exact, allocation-free and
 * timer-free.
 */
export class GcraLimiter implements PermitSource {
  retryAfterMs = 0;
  private theoreticalArrivalMs = -Infinity;
  private readonly intervalMs: number;
  private readonly burstWindowMs: number;

  constructor(readonly options: RateLimitOptions) {
    this.intervalMs = options.perMs / options.limit;
    this.burstWindowMs = this.intervalMs * options.burst;
  }

  acquire(nowMs: number): number {
    const next = Math.max(this.theoreticalArrivalMs, nowMs) + this.intervalMs;
    const waitMs = next - this.burstWindowMs - nowMs;
    if (waitMs <= gcraToleranceMs(nowMs, this.intervalMs)) {
      this.theoreticalArrivalMs = next;
      return 0;
    }
    if (waitMs <= this.options.maxWaitMs) {
      this.theoreticalArrivalMs = next;
      return waitMs;
    }
    this.retryAfterMs = waitMs;
    return NO_PERMIT;
  }

  /** Permits that could be taken right now without waiting. */
  available(nowMs: number): number {
    const backlogMs = Math.max(0, this.theoreticalArrivalMs - nowMs);
    return Math.max(0, Math.floor((this.burstWindowMs - backlogMs) / this.intervalMs));
  }
}
