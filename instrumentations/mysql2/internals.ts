/**
 * The few mysql2 internals the instrumentation touches, all of them to stop
 * work after a timeout (mysql2 has no cancellation API) or to notice commands
 * mysql2 itself will never complete. Stable across mysql2 3.x; every caller
 * runs them guarded, so a change degrades to "the timed-out work is left to
 * finish".
 */
import { EventEmitter } from 'node:events';
import { noop } from '../shared/callbacks';
import { markInternal } from '../shared/internal';

/** mysql2's ring queue (`lib/ring_queue.js`; a Denque in older 3.x releases). */
interface Queue {
  readonly length: number;
  get(index: number): unknown;
  removeOne(index: number): unknown;
}

export type Command = EventEmitter & { onResult?: unknown; sql?: unknown };

export interface MysqlConnection extends EventEmitter {
  readonly config?: Record<string, unknown>;
  readonly threadId?: unknown;
  readonly stream?: { destroy(): void };
  readonly _pool?: unknown;
  readonly _command?: unknown;
  readonly _commands?: Queue;
  readonly _closing?: boolean;
  release?(): void;
  destroy?(): void;
  query?(sql: string, callback: (error: unknown) => void): unknown;
}

/** mysql2's `Connection` class: connects on construction. */
export type ConnectionClass = new (options: { config: unknown }) => MysqlConnection;

export interface MysqlPool extends EventEmitter {
  readonly config?: { readonly connectionConfig?: Record<string, unknown> };
  readonly _allConnections?: Queue;
  readonly _connectionQueue?: Queue;
}

/**
 * Stands for "the application closed this connection with commands still
 * queued": mysql2 then never calls their callbacks, and neither does the
 * agent — but their attempts must end, or a bulkhead slot or a half-open
 * probe would be held forever. Classified neutral; never delivered.
 */
export const CLOSED_BY_APPLICATION: Error = Object.freeze(
  new Error('the application closed the connection'),
);

function removeFrom(queue: Queue | undefined, item: unknown): boolean {
  if (queue === undefined || typeof queue.get !== 'function') return false;
  for (let i = 0; i < queue.length; i++) {
    if (queue.get(i) === item) {
      queue.removeOne(i);
      return true;
    }
  }
  return false;
}

/**
 * How long a killed statement may take to stop before its connection is
 * closed instead (a server that does not answer will not process the KILL
 * either).
 */
export const CANCEL_GRACE_MS = 1_000;

/**
 * `KILL QUERY <thread>` through a short-lived connection of its own (same
 * configuration, marked as the agent's so it is never policed): the server
 * aborts the statement with ER_QUERY_INTERRUPTED and the connection stays
 * usable. Bounded by `lifetimeMs`; failures are ignored.
 */
function killQuery(
  connection: MysqlConnection,
  Connection: ConnectionClass | undefined,
  lifetimeMs: number,
): void {
  const threadId = connection.threadId;
  if (Connection === undefined || connection.config === undefined || typeof threadId !== 'number')
    return;
  const killer = markInternal(new Connection({ config: connection.config }));
  killer.on('error', noop);
  const timer = setTimeout(() => killer.destroy?.(), lifetimeMs);
  timer.unref();
  killer.query?.(`KILL QUERY ${threadId}`, () => {
    clearTimeout(timer);
    killer.destroy?.();
  });
}

/**
 * Stop a timed-out command. One still queued behind others is removed: it
 * never reaches the server. One running is killed on the server (a write the
 * application was told timed out does not commit later) and the connection
 * stays usable; if it is still running `CANCEL_GRACE_MS` later (a server that
 * does not answer), its socket is closed — mysql2 then fails the connection's
 * other commands with PROTOCOL_CONNECTION_LOST, and a pool drops it.
 */
export function cancelCommand(
  connection: MysqlConnection,
  command: unknown,
  Connection: ConnectionClass | undefined,
): void {
  if (
    command !== undefined &&
    connection._command !== command &&
    removeFrom(connection._commands, command)
  )
    return;
  const running = command ?? connection._command;
  if (running === undefined || running === null || connection._command !== running) return;
  killQuery(connection, Connection, CANCEL_GRACE_MS);
  setTimeout(() => {
    if (connection._command === running) connection.stream?.destroy();
  }, CANCEL_GRACE_MS).unref();
}

/** Connections the pool holds (connected or connecting). */
export function connectionCount(pool: MysqlPool): number {
  return pool._allConnections === undefined ? -1 : pool._allConnections.length;
}

/** The connection mysql2 started opening during a checkout, if it did. */
export function newConnectionSince(
  pool: MysqlPool,
  countBefore: number,
): MysqlConnection | undefined {
  const all = pool._allConnections;
  if (countBefore < 0 || all === undefined || all.length <= countBefore) return undefined;
  return all.get(countBefore) as MysqlConnection;
}

/**
 * Give up a timed-out checkout: a connection being opened for it is
 * destroyed (the pool drops it); a wait in the pool's queue is removed. A
 * connection handed over later anyway is released by the caller.
 */
export function abandonCheckout(
  pool: MysqlPool,
  connecting: MysqlConnection | undefined,
  callback: unknown,
): void {
  if (connecting !== undefined && (connecting as { authorized?: unknown }).authorized !== true) {
    connecting.destroy?.();
    return;
  }
  removeFrom(pool._connectionQueue, callback);
}

/** The command's `emit` as its class defines it (our own deliveries bypass any interception). */
export function emitDirect(command: EventEmitter, name: string, ...args: unknown[]): boolean {
  return EventEmitter.prototype.emit.call(command, name, ...args);
}
