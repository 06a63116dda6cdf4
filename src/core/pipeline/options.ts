import type { Classifier } from '../outcome';
import type { BulkheadOptions } from '../policies/bulkhead/options';
import type { CircuitBreakerOptions } from '../policies/circuit-breaker/options';
import type { DeadLetterOptions } from '../policies/dead-letter/options';
import type { IdempotencyOptions } from '../policies/idempotency/options';
import type { RateLimitOptions } from '../policies/rate-limit/options';
import type { RetryOptions } from '../policies/retry/options';

/**
 * Everything one pipeline (one dependency or protected function) does, resolved
 * and frozen. `undefined` switches a policy off. Durations are milliseconds;
 * 0 means "no limit" for timeouts.
 */
export interface PipelineOptions {
  readonly name: string;
  readonly circuitBreaker: CircuitBreakerOptions | undefined;
  readonly retry: RetryOptions | undefined;
  readonly attemptTimeoutMs: number;
  readonly totalTimeoutMs: number;
  readonly bulkhead: BulkheadOptions | undefined;
  readonly rateLimit: RateLimitOptions | undefined;
  /** Honour 429/503 Retry-After by turning every caller away until it passes. */
  readonly cooldown: boolean;
  readonly deadLetter: DeadLetterOptions | undefined;
  readonly idempotency: IdempotencyOptions | undefined;
  /** Library API only: the value to use when the call throws (rejections included). */
  readonly fallback: ((error: unknown, args: readonly unknown[]) => unknown) | undefined;
  readonly classifier: Classifier;
  /**
   * Library API only: append an `AbortSignal` to the callee's arguments, aborted
   * when a timeout fires. Costs an AbortController per attempt, so it is opt-in.
   */
  readonly passSignal: boolean;
}

/**
 * Per-call facts only the caller knows (instrumentations compute them per request).
 * The pipeline never allocates one for plain library calls.
 */
export interface CallOptions {
  /** Repeating the call is safe (idempotent request, read-only command, no open transaction). */
  readonly retrySafe: boolean;
  /** Stop the underlying operation when a timeout fires (destroy the socket, cancel the query). */
  readonly onTimeout?: ((error: Error) => void) | undefined;
  /** A dead-letter replay: a failure updates the entry instead of capturing a new one. */
  readonly replay?: boolean | undefined;
  /** Trace ids of the active span, for dead-letter entries. */
  readonly trace?: (() => { traceId: string; spanId: string } | undefined) | undefined;
}

export const RETRY_SAFE_CALL: CallOptions = Object.freeze({ retrySafe: true });
export const NOT_RETRY_SAFE_CALL: CallOptions = Object.freeze({ retrySafe: false });
