import type { StoreKind } from './store';

/**
 * Why a store call failed:
 *
 * - `unavailable`: the store could not be reached (connection refused or lost,
 *   not connected yet, failing over, loading, out of memory …);
 * - `timeout`: no answer within the call's budget (it may still have been applied);
 * - `circuit_open`: not attempted — the store's own breaker is open after recent
 *   failures, and only background probes reach it until it recovers;
 * - `closed`: the store was closed;
 * - `failed`: the store answered with an error (a bug or a misconfiguration,
 *   not an outage; it does not count towards the store's breaker).
 */
export type StoreErrorReason = 'unavailable' | 'timeout' | 'circuit_open' | 'closed' | 'failed';

const kStoreError = Symbol.for('baldur.store-error.v1');

/**
 * The only kind of error a store call rejects with once it has gone through
 * the resilient decorator (src/store/resilient-store.ts). Callers decide per
 * feature what an outage means (degrade to local state, fail open, fail
 * closed); `unavailable` tells an outage from a store that answered "no".
 */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  /** With `circuit_open`: when the store's breaker admits the next probe. */
  readonly retryAfterMs: number | undefined;
  /** The message without the "state store (kind) operation:" prefix. */
  readonly detail: string;

  constructor(
    readonly store: StoreKind,
    readonly operation: string,
    readonly reason: StoreErrorReason,
    message: string,
    options?: { cause?: unknown; retryAfterMs?: number },
  ) {
    super(
      `state store (${store}) ${operation}: ${message}`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.detail = message;
    this.retryAfterMs = options?.retryAfterMs;
  }

  /** True for an outage (the answer is unknown), false when the store answered with an error. */
  get unavailable(): boolean {
    return this.reason !== 'failed';
  }

  get [kStoreError](): true {
    return true;
  }

  /** Works across duplicate copies of the package (a global brand); subclasses keep prototype semantics. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null || !(kStoreError in value)) return false;
    if (this === StoreError) return true;
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }
}

export function isStoreError(value: unknown): value is StoreError {
  return value instanceof StoreError;
}
