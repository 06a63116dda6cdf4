import { BaldurError, TimeoutError } from './errors';
import { retryAfterFromHeaders } from './retry-after';

/**
 * How one attempt's outcome counts. `failure` feeds the breaker and may be
 * retried; `success` closes the books; `neutral` (for example a caller's own
 * abort) is passed through without touching the breaker.
 */
export type Verdict = 'success' | 'failure' | 'neutral';

export type Outcome =
  { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

/**
 * Client-specific knowledge of what a failure is. Each instrumentation ships
 * one (HTTP status, SQLSTATE, Redis error prefixes); the library default is
 * below. Called on every attempt, so implementations must not allocate on
 * the success path.
 */
export interface Classifier {
  classifyResult(value: unknown): Verdict;
  classifyError(error: unknown): Verdict;
  /**
   * The server's requested back-off (Retry-After) carried by a failed outcome,
   * in ms. A defined value also installs the shared cooldown.
   */
  retryAfterMs(outcome: unknown, isError: boolean, nowWallMs: number): number | undefined;
}

interface ResponseLike {
  status: number;
  ok: boolean;
  headers?: unknown;
}

/** A fetch `Response` (or look-alike) — returned responses are judged by status. */
function isResponseLike(value: unknown): value is ResponseLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ResponseLike).status === 'number' &&
    typeof (value as ResponseLike).ok === 'boolean'
  );
}

/** HTTP statuses that mean the dependency is unhealthy or overloaded (SPEC §4). */
export function isFailureStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** Statuses whose Retry-After asks every caller to back off. */
export function isBackoffStatus(status: number): boolean {
  return status === 429 || status === 503;
}

function isAbort(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { name?: unknown }).name === 'AbortError'
  );
}

/**
 * The classifier for `protect()`: every thrown error is a failure except a
 * caller's abort; returned fetch-style responses with 5xx/408/429 are failures.
 */
export const defaultClassifier: Classifier = Object.freeze({
  classifyResult(value: unknown): Verdict {
    return isResponseLike(value) && isFailureStatus(value.status) ? 'failure' : 'success';
  },
  classifyError(error: unknown): Verdict {
    return isAbort(error) ? 'neutral' : 'failure';
  },
  retryAfterMs(outcome: unknown, isError: boolean, nowWallMs: number): number | undefined {
    if (!isError) {
      return isResponseLike(outcome) && isBackoffStatus(outcome.status)
        ? retryAfterFromHeaders(outcome.headers, nowWallMs)
        : undefined;
    }
    if (typeof outcome !== 'object' || outcome === null || outcome instanceof BaldurError)
      return undefined;
    const carried = (outcome as { retryAfterMs?: unknown }).retryAfterMs;
    if (typeof carried === 'number' && Number.isFinite(carried) && carried >= 0) return carried;
    const response = (outcome as { response?: unknown }).response;
    if (isResponseLike(response) && isBackoffStatus(response.status)) {
      return retryAfterFromHeaders(response.headers, nowWallMs);
    }
    return undefined;
  },
});

/**
 * Default retry predicate: retry failures, but never Baldur's own rejections
 * (an open circuit or a full bulkhead will not heal in a backoff delay) except
 * an attempt timeout.
 */
export function isRetryableByDefault(outcome: Outcome): boolean {
  if (outcome.ok) return true;
  const error = outcome.error;
  if (error instanceof TimeoutError) return error.scope === 'attempt';
  return !(error instanceof BaldurError);
}
