/** Resolved circuit breaker settings. Durations are milliseconds; rates are percentages. */
export interface CircuitBreakerOptions {
  /** `false` puts the breaker in the `disabled` state: it never rejects and records nothing. */
  readonly enabled: boolean;
  /** Consecutive failures that open the breaker (0 turns this trigger off). */
  readonly failureThreshold: number;
  /** Failure percentage over the sliding window that opens the breaker (0 turns it off). */
  readonly failureRateThreshold: number;
  /** Number of most recent calls the rate triggers look at. */
  readonly slidingWindowSize: number;
  /** Calls the window must hold before a rate trigger may open the breaker. */
  readonly minimumCalls: number;
  /** Calls slower than this count as slow (0 turns the slow-call trigger off). */
  readonly slowCallDurationMs: number;
  /** Slow-call percentage over the window that opens the breaker. */
  readonly slowCallRateThreshold: number;
  /** Time spent open before probes are let through. */
  readonly recoveryTimeoutMs: number;
  /** Probes allowed in flight at once while half-open. */
  readonly halfOpenMaxCalls: number;
  /** Successful probes needed to close; a single failed probe re-opens. */
  readonly successThreshold: number;
}

export const CIRCUIT_BREAKER_DEFAULTS: CircuitBreakerOptions = Object.freeze({
  enabled: true,
  failureThreshold: 5,
  failureRateThreshold: 50,
  slidingWindowSize: 100,
  minimumCalls: 10,
  slowCallDurationMs: 0,
  slowCallRateThreshold: 100,
  recoveryTimeoutMs: 30_000,
  halfOpenMaxCalls: 3,
  successThreshold: 2,
});

/** How long a forced state lasts unless the operator says otherwise (a dead-man's switch). */
export const DEFAULT_FORCED_STATE_TTL_MS = 90 * 60 * 1000;
