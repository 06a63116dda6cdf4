import { StoreError, type StoreErrorReason } from '../../core/store-errors';

/**
 * Typed failures of the SQL stores. Every error a PostgreSQL or MySQL store
 * call rejects with is a `SqlStoreError`, a `StoreError` of the port: its
 * `reason` (`unavailable`, `timeout`, `closed`, `failed`) is what the
 * resilient decorator and the features act on, and `failure` says more
 * (`schema`: the tables are missing; `rejected`: the database refused the
 * statement), so an outage is told from a bug without parsing driver messages.
 */
export type SqlDialect = 'postgresql' | 'mysql';

export type SqlStoreFailure =
  /** The database could not be reached, or dropped the connection. Retrying later may succeed. */
  | 'unavailable'
  /** A statement, lock wait or connection checkout took longer than its bound. */
  | 'timeout'
  /** The store was closed. */
  | 'closed'
  /** The tables are missing or older than this version needs (automatic migration off or failed). */
  | 'schema'
  /** The database refused the statement or its data (a bug, bad input, missing privilege). */
  | 'rejected';

export class SqlStoreError extends StoreError {
  /** The driver's or server's code (`ECONNREFUSED`, SQLSTATE `57P01`, `ER_LOCK_WAIT_TIMEOUT`), when known. */
  readonly code: string | undefined;

  constructor(
    message: string,
    /** The SQL store's own, finer classification; `reason` is the port's. */
    readonly failure: SqlStoreFailure,
    readonly dialect: SqlDialect,
    operation: string,
    options: { cause?: unknown; code?: string | undefined } = {},
  ) {
    super(
      dialect,
      operation,
      STORE_REASON[failure],
      message,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = options.code;
  }

  // StoreError brands every store error; this subclass keeps ordinary prototype semantics.
  static override [Symbol.hasInstance](value: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }
}

/** How each SQL failure reads through the port: schema and refusals are answers, not outages. */
const STORE_REASON: Readonly<Record<SqlStoreFailure, StoreErrorReason>> = {
  unavailable: 'unavailable',
  timeout: 'timeout',
  closed: 'closed',
  schema: 'failed',
  rejected: 'failed',
};

export function isSqlStoreError(value: unknown): value is SqlStoreError {
  return value instanceof SqlStoreError;
}

/** Node socket errors that mean "the server is not there (any more)". */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ETIMEDOUT',
  'EADDRNOTAVAIL',
]);

export function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : typeof code === 'number' ? String(code) : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Classify a node-postgres error. */
export function classifyPostgresError(error: unknown): SqlStoreFailure {
  const code = errorCode(error);
  const message = messageOf(error);
  if (code !== undefined) {
    if (NETWORK_CODES.has(code)) return code === 'ETIMEDOUT' ? 'timeout' : 'unavailable';
    // statement_timeout / lock_timeout / a cancelled query
    if (code === '57014' || code === '55P03') return 'timeout';
    // connection exceptions, admin/crash shutdown, cannot connect now, too many connections, disk full…
    if (/^(08|53|57P|58)/.test(code)) return 'unavailable';
    if (code === '42P01' || code === '42883' || code === '42703') return 'schema';
    if (/^[0-9A-Z]{5}$/.test(code)) return 'rejected';
  }
  if (/timeout|timed out/i.test(message)) return 'timeout';
  if (/terminat|connection|ended|closed|not queryable|socket/i.test(message)) return 'unavailable';
  return 'rejected';
}

/** Classify a mysql2 error. */
export function classifyMysqlError(error: unknown): SqlStoreFailure {
  const code = errorCode(error);
  const message = messageOf(error);
  if (code !== undefined) {
    if (NETWORK_CODES.has(code)) return code === 'ETIMEDOUT' ? 'timeout' : 'unavailable';
    switch (code) {
      case 'PROTOCOL_SEQUENCE_TIMEOUT':
      case 'ER_LOCK_WAIT_TIMEOUT':
      case 'ER_STATEMENT_TIMEOUT': // MariaDB max_statement_time
      case 'ER_QUERY_TIMEOUT': // MySQL max_execution_time
      case 'ER_QUERY_INTERRUPTED':
        return 'timeout';
      case 'PROTOCOL_CONNECTION_LOST':
      case 'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR':
      case 'ER_CON_COUNT_ERROR':
      case 'ER_TOO_MANY_USER_CONNECTIONS':
      case 'ER_SERVER_SHUTDOWN':
      case 'ER_CONNECTION_KILLED':
      case 'ER_NET_READ_ERROR':
      case 'ER_NET_READ_INTERRUPTED':
      case 'ER_NET_ERROR_ON_WRITE':
      case 'ER_OPTION_PREVENTS_STATEMENT': // read-only replica after a failover
      case 'ER_CANT_LOCK': // read-only
        return 'unavailable';
      case 'ER_NO_SUCH_TABLE':
      case 'ER_BAD_FIELD_ERROR':
      case 'ER_SP_DOES_NOT_EXIST':
        return 'schema';
      default:
        break;
    }
  }
  if ((error as { fatal?: unknown } | null)?.fatal === true) return 'unavailable';
  if (/timeout|timed out/i.test(message)) return 'timeout';
  if (
    /Pool is closed|closed state|Connection lost|No connections available|Queue limit/i.test(
      message,
    )
  )
    return 'unavailable';
  return 'rejected';
}

/** Serialization failures and deadlocks: the statement was rolled back and may simply be run again. */
export function isRetryableConflict(dialect: SqlDialect, error: unknown): boolean {
  const code = errorCode(error);
  if (dialect === 'postgresql') return code === '40001' || code === '40P01';
  return code === 'ER_LOCK_DEADLOCK' || code === '1213';
}
