import { describe, expect, it } from 'vitest';
import { classifyMysqlError, isConnectionGone } from '../../../instrumentations/mysql2/classify';

/**
 * Which MySQL / MariaDB errors count against the breaker (documented in
 * instrumentations/pg/README.md), and after which a pool connection is
 * dropped so a retry gets a fresh one.
 */
function serverError(errno: number, code: string | undefined, sqlState = 'HY000'): Error {
  return Object.assign(new Error(code ?? String(errno)), {
    errno,
    code,
    sqlState,
    sqlMessage: 'x',
  });
}

function clientError(code: string, fatal = true): Error {
  return Object.assign(new Error(code), { code, fatal });
}

describe('MySQL failure classification', () => {
  it.each([
    [1040, 'ER_CON_COUNT_ERROR', 'failure'],
    [1203, 'ER_TOO_MANY_USER_CONNECTIONS', 'failure'],
    [1053, 'ER_SERVER_SHUTDOWN', 'failure'],
    [1205, 'ER_LOCK_WAIT_TIMEOUT', 'failure'],
    [1213, 'ER_LOCK_DEADLOCK', 'failure'],
    [1290, 'ER_OPTION_PREVENTS_STATEMENT', 'failure'],
    [1792, 'ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION', 'failure'],
    [1836, 'ER_READ_ONLY_MODE', 'failure'],
    [1927, undefined, 'failure'], // ER_CONNECTION_KILLED (MariaDB), unnamed in mysql2
    [1969, undefined, 'failure'], // MariaDB max_statement_time
    [3024, 'ER_QUERY_TIMEOUT', 'failure'],
    [1062, 'ER_DUP_ENTRY', 'success'],
    [1064, 'ER_PARSE_ERROR', 'success'],
    [1146, 'ER_NO_SUCH_TABLE', 'success'],
    [1045, 'ER_ACCESS_DENIED_ERROR', 'success'],
    [1452, 'ER_NO_REFERENCED_ROW_2', 'success'],
  ] as const)('server error %i (%s) is a %s for the breaker', (errno, code, verdict) => {
    expect(classifyMysqlError(serverError(errno, code))).toBe(verdict);
  });

  it.each([
    [clientError('ECONNREFUSED'), 'failure'],
    [clientError('ECONNRESET'), 'failure'],
    [clientError('ETIMEDOUT'), 'failure'],
    [clientError('PROTOCOL_CONNECTION_LOST'), 'failure'],
    [clientError('PROTOCOL_SEQUENCE_TIMEOUT', false), 'failure'],
    [
      Object.assign(new Error("Can't add new command when connection is in closed state"), {
        fatal: true,
      }),
      'failure',
    ],
    [new Error('Pool is closed.'), 'neutral'],
    [new Error('No connections available.'), 'neutral'],
    [new TypeError('Bind parameters must not contain undefined.'), 'neutral'],
  ])('%s is a %s for the breaker', (error, verdict) => {
    expect(classifyMysqlError(error)).toBe(verdict);
  });

  it('drops a pool connection only when it is gone', () => {
    expect(isConnectionGone(serverError(1927, undefined))).toBe(true);
    expect(isConnectionGone(clientError('PROTOCOL_CONNECTION_LOST'))).toBe(true);
    expect(isConnectionGone(serverError(1213, 'ER_LOCK_DEADLOCK'))).toBe(false);
    expect(isConnectionGone(serverError(1062, 'ER_DUP_ENTRY'))).toBe(false);
  });
});
