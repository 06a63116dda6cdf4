import type { Classifier, Verdict } from '../../src/core/outcome';
import { CLOSED_BY_APPLICATION } from './internals';
import { SOCKET_ERROR_CODES } from '../shared/socket-errors';

/**
 * What counts against a MySQL / MariaDB dependency (SPEC §4).
 *
 * Failures: the connection failing (socket errors, `PROTOCOL_CONNECTION_LOST`,
 * mysql2's own query inactivity timeout `PROTOCOL_SEQUENCE_TIMEOUT`, any other
 * fatal error without a server error number), and server errors that say the
 * server is overloaded, going away, read-only or timing out:
 *
 * | errno | name |
 * |---|---|
 * | 1040, 1203 | ER_CON_COUNT_ERROR, ER_TOO_MANY_USER_CONNECTIONS |
 * | 1037, 1038, 1041 | ER_OUTOFMEMORY, ER_OUT_OF_SORTMEMORY, ER_OUT_OF_RESOURCES |
 * | 1053 | ER_SERVER_SHUTDOWN |
 * | 1129 | ER_HOST_IS_BLOCKED |
 * | 1152, 1184 | ER_ABORTING_CONNECTION, ER_NEW_ABORTING_CONNECTION |
 * | 1158–1161 | ER_NET_READ_ERROR, ER_NET_READ_INTERRUPTED, ER_NET_ERROR_ON_WRITE, ER_NET_WRITE_INTERRUPTED |
 * | 1205, 1213 | ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK |
 * | 1290, 1792, 1836 | read-only: ER_OPTION_PREVENTS_STATEMENT (--read-only, Aurora failover), ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION, ER_READ_ONLY_MODE |
 * | 1317, 1927 | ER_QUERY_INTERRUPTED, ER_CONNECTION_KILLED (MariaDB) |
 * | 1969, 3024 | statement timeouts: MariaDB max_statement_time, MySQL max_execution_time |
 * | 4031 | ER_CLIENT_INTERACTION_TIMEOUT |
 *
 * Every other server error — ER_DUP_ENTRY, ER_PARSE_ERROR, ER_NO_SUCH_TABLE,
 * ER_ACCESS_DENIED_ERROR, … — is the server answering correctly: a success for
 * the breaker, passed on untouched, never retried. Errors of the pool itself
 * ('Pool is closed.', 'No connections available.', 'Queue limit reached.') and
 * programming errors (TypeError) are neutral.
 */
const FAILING_ERRNOS = new Set([
  1037, 1038, 1040, 1041, 1053, 1129, 1152, 1158, 1159, 1160, 1161, 1184, 1203, 1205, 1213, 1290,
  1317, 1792, 1836, 1927, 1969, 3024, 4031,
]);

const FAILING_CODES = new Set([
  ...SOCKET_ERROR_CODES,
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
]);

export function classifyMysqlError(error: unknown): Verdict {
  if (typeof error !== 'object' || error === null || error === CLOSED_BY_APPLICATION)
    return 'neutral';
  const { errno, code, fatal } = error as { errno?: unknown; code?: unknown; fatal?: unknown };
  if (typeof code === 'string' && FAILING_CODES.has(code)) return 'failure';
  if (
    typeof errno === 'number' &&
    errno > 0 &&
    errno < 10_000 &&
    typeof (error as { sqlState?: unknown }).sqlState === 'string'
  )
    return FAILING_ERRNOS.has(errno) ? 'failure' : 'success';
  // A fatal error without a server error number is the connection or protocol failing.
  return fatal === true ? 'failure' : 'neutral';
}

/** Errors after which the connection cannot be used again (killed, shut down, socket gone, fatal). */
const GONE_ERRNOS = new Set([1053, 1152, 1184, 1927, 4031]);

export function isConnectionGone(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { errno, code, fatal } = error as { errno?: unknown; code?: unknown; fatal?: unknown };
  return (
    fatal === true ||
    (typeof errno === 'number' && GONE_ERRNOS.has(errno)) ||
    (typeof code === 'string' && FAILING_CODES.has(code))
  );
}

export const mysqlClassifier: Classifier = Object.freeze({
  classifyResult(): Verdict {
    return 'success';
  },
  classifyError: classifyMysqlError,
  retryAfterMs(): undefined {
    return undefined;
  },
});
