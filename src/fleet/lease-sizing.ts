import type { RateLimitOptions } from '../core/policies/rate-limit/options';

/** Longest a leased permit stays usable (ms), and the shortest. */
export const LEASE_TTL_MAX_MS = 250;
export const LEASE_TTL_MIN_MS = 10;
/** Largest batch one refill asks for. */
export const LEASE_BATCH_MAX = 16_384;
/** Weight of the newest demand sample in the moving average. */
const SMOOTHING = 0.3;

/**
 * Sizes the permit batches a worker leases from the fleet-wide bucket.
 *
 * A lease is a batch of permits granted by the store's `takePermits`, spent
 * locally without a round trip, and dropped when `ttlMs` has passed. Every
 * permit spent was granted by the store, so leases can never overshoot the
 * fleet-wide limit; what they cost is undershoot — permits leased and left
 * unused when the lease expires. Sizing keeps that small: a batch covers
 * about half a lease lifetime of this worker's measured demand, and never
 * more than the limit grants in one lifetime.
 *
 * - lifetime: 1/20 of the period, clamped to 10..250 ms (50 ms for "per 1s");
 * - batch: ceil(demand rate × lifetime / 2), clamped to 1..min(burst,
 *   limit × lifetime / period, 16384).
 */
export class LeaseSizer {
  readonly ttlMs: number;
  readonly maxBatch: number;
  /** Demand in permits per ms (exponential moving average). */
  private rate = 0;
  private demand = 0;
  private sinceMs: number;

  constructor(options: RateLimitOptions, nowMs: number) {
    this.ttlMs = Math.min(LEASE_TTL_MAX_MS, Math.max(LEASE_TTL_MIN_MS, options.perMs / 20));
    const perLifetime = Math.floor((options.limit * this.ttlMs) / options.perMs);
    this.maxBatch = Math.max(1, Math.min(LEASE_BATCH_MAX, options.burst, perLifetime));
    this.sinceMs = nowMs;
  }

  /** Count one permit wanted (granted or not). */
  note(): void {
    this.demand++;
  }

  /** The batch to ask for now: at least `waiting` (callers blocked on this refill), within bounds. */
  batch(nowMs: number, waiting = 1): number {
    const elapsedMs = nowMs - this.sinceMs;
    if (elapsedMs >= 1) {
      const sample = this.demand / elapsedMs;
      this.rate = this.rate === 0 ? sample : this.rate + SMOOTHING * (sample - this.rate);
      this.demand = 0;
      this.sinceMs = nowMs;
    }
    const wanted = Math.ceil((this.rate * this.ttlMs) / 2);
    return Math.max(1, Math.min(this.maxBatch, Math.max(wanted, waiting)));
  }

  /** Demand measured so far, permits per second (for status and tests). */
  get ratePerSecond(): number {
    return this.rate * 1000;
  }
}
