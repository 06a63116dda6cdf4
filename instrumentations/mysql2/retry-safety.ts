import { isRepeatableRead, statementKind, type StatementKind } from '../shared/sql-statements';
import { TransactionTracker } from '../shared/sql-transactions';

/**
 * When a mysql2 call may be repeated (SPEC §4: "SQL outside a transaction").
 *
 * - Only the pool's `query`/`execute` retry, with a callback (the promise API
 *   always passes one): each attempt checks out a connection of its own, and
 *   mysql2 discards a connection that failed. A connection's own `query` /
 *   `execute` never retries: after a fatal error it is closed for good.
 * - Only reads (`isRepeatableRead`): a write that failed mid-flight may have
 *   committed.
 * - Never the event-emitter form (`pool.query(sql).on('result', …)`), whose
 *   rows may already have reached the application, nor a `Query` command
 *   object passed in, which cannot be submitted twice.
 * - Never on a connection inside a transaction: the agent tracks BEGIN /
 *   START TRANSACTION / `beginTransaction()` / `SET autocommit = 0` and
 *   COMMIT / ROLLBACK per connection; an attempt that ran on a pool connection
 *   still inside one (released without COMMIT/ROLLBACK) is not retried.
 * - ROLLBACK (also `rollback()`) and ROLLBACK TO are cleanup: they always
 *   reach the server, unpoliced.
 */
export const mysqlTransactions = new TransactionTracker();

/** The SQL of `query(sql | { sql })` or of a `Query` command. */
export function sqlText(sql: unknown): string | undefined {
  if (typeof sql === 'string') return sql;
  const text = typeof sql === 'object' && sql !== null ? (sql as { sql?: unknown }).sql : undefined;
  return typeof text === 'string' ? text : undefined;
}

export function mysqlStatementKind(sql: unknown): StatementKind {
  const text = sqlText(sql);
  return text === undefined ? 'write' : statementKind(text);
}

export function isPoolCallRepeatable(sql: unknown): boolean {
  const text = sqlText(sql);
  return text !== undefined && isRepeatableRead(text);
}

export function passesUnpoliced(kind: StatementKind): boolean {
  return kind === 'rollback' || kind === 'rollback_to';
}
