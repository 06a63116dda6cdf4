import type { Outcome } from '../../src/core/outcome';
import type { StatementKind } from './sql-statements';

/**
 * Sessions (connection objects) known to be inside a transaction, tracked from
 * the statements the application sends through them. Used where the driver
 * cannot say itself (mysql2 keeps no transaction status; pg before
 * `getTransactionStatus()`). A WeakSet: a dropped connection leaves nothing
 * behind.
 */
export class TransactionTracker {
  private readonly open = new WeakSet<object>();

  note(session: object, kind: StatementKind): void {
    if (kind === 'begin') this.open.add(session);
    else if (kind === 'commit' || kind === 'rollback') this.open.delete(session);
  }

  isOpen(session: object): boolean {
    return this.open.has(session);
  }
}

/**
 * Errors whose call must not be repeated although the statement alone would
 * allow it: the attempt ran on a connection that was inside a transaction (a
 * client returned to the pool without COMMIT/ROLLBACK), so repeating it
 * elsewhere would run it outside that transaction. The pipelines' `retryIf`
 * consults this set; it holds error objects weakly.
 */
const vetoed = new WeakSet<object>();

export function vetoRetry(error: unknown): void {
  if (typeof error === 'object' && error !== null) vetoed.add(error);
}

/** `retryIf` for SQL pipelines: everything the pipeline would retry, minus vetoed errors. */
export function retryNotVetoed(outcome: Outcome): boolean {
  return (
    outcome.ok ||
    typeof outcome.error !== 'object' ||
    outcome.error === null ||
    !vetoed.has(outcome.error)
  );
}
