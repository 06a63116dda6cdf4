/** Resolved rate limit: `limit` permits per `perMs`, with bursts of up to `burst`. */
export interface RateLimitOptions {
  readonly limit: number;
  readonly perMs: number;
  /** Permits that may be used back to back after a quiet period (defaults to `limit`). */
  readonly burst: number;
  /** Longest a call may wait for its permit before it is rejected (0 = reject at once). */
  readonly maxWaitMs: number;
}
