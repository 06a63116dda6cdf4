import { BaldurError, TimeoutError } from '../../src/core/errors';
import {
  isBackoffStatus,
  isFailureStatus,
  type Classifier,
  type Outcome,
  type Verdict,
} from '../../src/core/outcome';
import type { PipelineExtras } from '../../src/config/policies';
import { retryAfterFromHeaders } from '../../src/core/retry-after';
import { SOCKET_ERROR_CODES } from '../shared/socket-errors';

/**
 * What counts as a failure for HTTP dependencies, shared by the node:http and
 * the fetch/undici instrumentations (both key dependencies as
 * `http:<host>:<port>`, so they share one pipeline and must agree).
 *
 * An attempt's value is the response at headers: an `IncomingMessage` for
 * node:http, an `{ statusCode, headers }` record for undici. Its body is not
 * waited for; a body cut mid-stream is reported later with
 * `pipeline.recordLateFailure()`.
 */

/** Network errors worth another attempt (a fresh connection may well succeed). */
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  ...SOCKET_ERROR_CODES,
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** Errors that say the caller gave up (its own abort, destroy, or signal), never the dependency. */
function isCallerAbort(error: object): boolean {
  const { name, code } = error as { name?: unknown; code?: unknown };
  return (
    name === 'AbortError' ||
    code === 'ABORT_ERR' ||
    code === 'UND_ERR_ABORTED' ||
    callerAborts.has(error)
  );
}

/** Mistakes in the calling code (invalid header, bad argument): they say nothing about the dependency. */
function isUsageError(error: object): boolean {
  const code = (error as { code?: unknown }).code;
  return (
    typeof code === 'string' &&
    (code.startsWith('ERR_INVALID_') ||
      code.startsWith('ERR_HTTP_') ||
      code === 'UND_ERR_INVALID_ARG' ||
      code === 'UND_ERR_NOT_SUPPORTED')
  );
}

/** Errors seen after the caller aborted or destroyed its request: neutral, whatever their code. */
const callerAborts = new WeakSet<object>();

/** Mark `error` as the consequence of the caller's own abort (returns an error to use). */
export function asCallerAbort(error?: unknown): Error {
  const subject =
    typeof error === 'object' && error !== null ? error : new Error('The operation was aborted');
  callerAborts.add(subject);
  return subject as Error;
}

interface StatusCarrier {
  statusCode?: unknown;
  headers?: unknown;
}

function statusOf(value: unknown): number | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const status = (value as StatusCarrier).statusCode;
  return typeof status === 'number' ? status : undefined;
}

export const httpClassifier: Classifier = Object.freeze({
  classifyResult(value: unknown): Verdict {
    const status = statusOf(value);
    return status !== undefined && isFailureStatus(status) ? 'failure' : 'success';
  },
  classifyError(error: unknown): Verdict {
    if (typeof error !== 'object' || error === null) return 'failure';
    if (error instanceof TimeoutError) return 'failure';
    if (error instanceof BaldurError) return 'failure';
    if (isCallerAbort(error) || isUsageError(error)) return 'neutral';
    return 'failure';
  },
  retryAfterMs(outcome: unknown, isError: boolean, nowWallMs: number): number | undefined {
    if (isError) return undefined;
    const status = statusOf(outcome);
    if (status === undefined || !isBackoffStatus(status)) return undefined;
    return retryAfterFromHeaders((outcome as StatusCarrier).headers, nowWallMs);
  },
});

/**
 * Outcomes that already reached the application: they can never be retried,
 * whatever the pipeline thinks (a retry would deliver a second response).
 */
const delivered = new WeakSet<object>();

export function markDelivered(outcome: unknown): void {
  if (typeof outcome === 'object' && outcome !== null) delivered.add(outcome);
}

/** Which failed outcomes are worth another attempt. */
export function isRetryableOutcome(outcome: Outcome): boolean {
  const subject = outcome.ok ? outcome.value : outcome.error;
  if (typeof subject === 'object' && subject !== null && delivered.has(subject)) return false;
  if (outcome.ok) return true; // a failure status (5xx, 408, 429)
  const error = outcome.error;
  if (error instanceof TimeoutError) return error.scope === 'attempt';
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && TRANSIENT_CODES.has(code);
}

/** Pipeline extras for every `http:` dependency. */
export const HTTP_EXTRAS: PipelineExtras = Object.freeze({
  classifier: httpClassifier,
  retryIf: isRetryableOutcome,
});
