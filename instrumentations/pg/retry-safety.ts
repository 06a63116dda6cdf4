import { isRepeatableRead, statementKind, type StatementKind } from '../shared/sql-statements';
import { TransactionTracker } from '../shared/sql-transactions';

/**
 * When a pg call may be repeated (SPEC §4: "SQL outside a transaction").
 *
 * - Only `Pool.query` retries: each attempt checks out a client, and pg-pool
 *   discards a client whose query failed with an error, so a retry runs on a
 *   fresh connection. `Client.query` is never retried: after a connection
 *   error the same client is unusable ("not queryable"), and everything else
 *   is either not transient or inside the application's transaction.
 * - Only reads (`isRepeatableRead`): a write that failed mid-flight may have
 *   committed.
 * - Never on a client inside a transaction: if the attempt ran on a pool client
 *   whose last ReadyForQuery status was 'T' (in transaction) or 'E' (failed
 *   transaction) — one released without COMMIT/ROLLBACK — it is not retried.
 * - ROLLBACK / ABORT / ROLLBACK TO are cleanup: they always reach the server,
 *   unpoliced, so that an open breaker can never leave a transaction open on a
 *   connection that goes back to the pool.
 */

/** The SQL text of `client.query(config)`: a string or a `{ text }` config. */
export function sqlText(config: unknown): string | undefined {
  if (typeof config === 'string') return config;
  const text =
    typeof config === 'object' && config !== null ? (config as { text?: unknown }).text : undefined;
  return typeof text === 'string' ? text : undefined;
}

export function pgStatementKind(config: unknown): StatementKind {
  const text = sqlText(config);
  return text === undefined ? 'write' : statementKind(text);
}

export function isPoolQueryRepeatable(config: unknown): boolean {
  const text = sqlText(config);
  return text !== undefined && isRepeatableRead(text);
}

export function passesUnpoliced(kind: StatementKind): boolean {
  return kind === 'rollback' || kind === 'rollback_to';
}

interface TransactionAware {
  getTransactionStatus?: () => unknown;
}

/** Statement tracking for the pg 8.x releases that predate `getTransactionStatus()`. */
export const pgTransactions = new TransactionTracker();

/** Whether the client is inside a transaction, by pg's own ReadyForQuery status when it has one. */
export function inTransaction(client: object): boolean {
  const status = (client as TransactionAware).getTransactionStatus?.();
  if (status === 'T' || status === 'E') return true;
  if (status === 'I') return false;
  return pgTransactions.isOpen(client);
}
