import type { Classifier, Verdict } from '../../src/core/outcome';
import { SOCKET_ERROR_CODES } from '../shared/socket-errors';

/**
 * What counts against a PostgreSQL dependency (SPEC §4).
 *
 * Server errors carry a SQLSTATE in `code`. Failures: class 08 (connection
 * exception), 53 (insufficient resources, e.g. 53300 too many connections),
 * 57P (operator intervention: 57P01 admin shutdown, 57P02 crash shutdown,
 * 57P03 cannot connect now), 58 (system error), XX (internal error), the
 * transient concurrency errors 40001 (serialization failure) and 40P01
 * (deadlock), and the server's own timeouts 57014 (statement_timeout) and
 * 55P03 (lock_timeout / NOWAIT). Every other SQLSTATE — constraint violations
 * (23), syntax and permissions (42), data errors (22), authentication (28) —
 * is the server answering correctly: a success for the breaker, passed to the
 * application untouched and never retried.
 *
 * Client-side errors: socket errors (ECONNREFUSED, ECONNRESET, ETIMEDOUT, …)
 * and pg's own messages for a lost connection or its own timeouts are
 * failures; misuse (querying a client the application ended, a TypeError) is
 * neutral.
 */
const FAILING_SQLSTATES = new Set(['40001', '40P01', '57014', '55P03']);
const FAILING_CLASSES = new Set(['08', '53', '58', 'XX']);

const SOCKET_ERRORS = new Set([...SOCKET_ERROR_CODES]);

/** Messages of plain `Error`s pg and pg-pool raise for a broken connection or their own timeouts. */
const FAILING_MESSAGES = new Set([
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
  'Client has encountered a connection error and is not queryable',
  'timeout exceeded when trying to connect',
  'timeout expired',
  'Query read timeout',
]);

function isSqlState(code: string): boolean {
  return code.length === 5 && !code.startsWith('E');
}

export function classifyPgError(error: unknown): Verdict {
  if (typeof error !== 'object' || error === null) return 'neutral';
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (SOCKET_ERRORS.has(code)) return 'failure';
    if (isSqlState(code)) {
      if (
        FAILING_SQLSTATES.has(code) ||
        FAILING_CLASSES.has(code.slice(0, 2)) ||
        code.startsWith('57P')
      )
        return 'failure';
      return 'success';
    }
  }
  const message = (error as { message?: unknown }).message;
  return typeof message === 'string' && FAILING_MESSAGES.has(message) ? 'failure' : 'neutral';
}

export const pgClassifier: Classifier = Object.freeze({
  classifyResult(): Verdict {
    return 'success';
  },
  classifyError: classifyPgError,
  retryAfterMs(): undefined {
    return undefined;
  },
});
