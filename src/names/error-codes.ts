/**
 * Stable error codes. A code is never reused or renamed: applications branch on them.
 * The README's error table is checked against this list by a test.
 */
export const ERROR_CODES = {
  /** The dependency's circuit breaker is open (or forced open); the call was not made. */
  CIRCUIT_OPEN: 'BALDUR_CIRCUIT_OPEN',
  /** The dependency's rate limit has no permit left in this period. */
  RATE_LIMITED: 'BALDUR_RATE_LIMITED',
  /** The bulkhead is at its concurrency limit and its queue is full, or the queue wait timed out. */
  BULKHEAD_FULL: 'BALDUR_BULKHEAD_FULL',
  /** An attempt or the whole call (including retries) exceeded its time limit. */
  TIMEOUT: 'BALDUR_TIMEOUT',
  /** The dependency answered 429/503 with Retry-After recently; every caller waits until it passes. */
  COOLDOWN: 'BALDUR_COOLDOWN',
  /** Another execution holds the idempotency key, or it completed without a replayable result. */
  IDEMPOTENCY_CONFLICT: 'BALDUR_IDEMPOTENCY_CONFLICT',
  /** Load shedding rejected the work (inbound backpressure or draining). */
  SHED: 'BALDUR_SHED',
  /** Configuration is invalid. Thrown by start(); never raised into instrumented calls. */
  CONFIG_INVALID: 'BALDUR_CONFIG_INVALID',
} as const;

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/** One-line meaning of each code, for the README's error table (checked by a test). */
export const ERROR_CODE_DOCS: Readonly<Record<ErrorCode, string>> = Object.freeze({
  BALDUR_CIRCUIT_OPEN:
    "The dependency's circuit breaker is open, forced open, or out of half-open probe slots; the call was not made. `retryAfterMs` says when probes resume.",
  BALDUR_RATE_LIMITED:
    "The dependency's rate limit had no permit within `maxWait`. `retryAfterMs` says when one frees up.",
  BALDUR_BULKHEAD_FULL:
    'The bulkhead is at `maxConcurrent` and its queue is full, or the queue wait exceeded `queueTimeout` (`reason`).',
  BALDUR_TIMEOUT:
    'An attempt (`scope: "attempt"`) or the whole call with its retries (`scope: "total"`) exceeded its limit.',
  BALDUR_COOLDOWN:
    'The dependency answered 429/503 with Retry-After; every caller backs off until it passes. `retryAfterMs` is the time left.',
  BALDUR_IDEMPOTENCY_CONFLICT:
    'The idempotency key is being executed elsewhere, completed without a storable result, or cannot be checked because the store is unavailable (`status`).',
  BALDUR_SHED: 'Load shedding turned the work away (inbound backpressure or draining).',
  BALDUR_CONFIG_INVALID:
    'Invalid configuration (`ConfigError`). Thrown by `start()` and `protect()`; the preload logs it and runs unprotected.',
});
