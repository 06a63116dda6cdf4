/** Resolved bulkhead settings. */
export interface BulkheadOptions {
  /** Calls allowed in flight at once. */
  readonly maxConcurrent: number;
  /** Calls allowed to wait for a slot; beyond this, calls are rejected at once. */
  readonly maxQueue: number;
  /** Longest wait for a slot (0 = wait as long as it takes). */
  readonly queueTimeoutMs: number;
}

export const BULKHEAD_DEFAULTS: BulkheadOptions = Object.freeze({
  maxConcurrent: 100,
  maxQueue: 0,
  queueTimeoutMs: 1_000,
});
