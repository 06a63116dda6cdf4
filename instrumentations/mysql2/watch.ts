import { CLOSED_BY_APPLICATION, type MysqlConnection } from './internals';

/**
 * Commands mysql2 may never complete, watched per connection:
 *
 * - an event-emitter command whose connection dies gets no event at all:
 *   mysql2 reports the loss as an 'error' on the connection;
 * - any command still queued when the application closes the connection
 *   (`destroy()`) is dropped without a callback.
 *
 * The agent's attempt for such a command must still end (or a bulkhead slot
 * or a half-open probe would be held forever). So each connection running a
 * policed command gets, once, an own `emit` that sees its 'error' and 'end'
 * events — observing, never adding listeners, so an application without an
 * 'error' listener behaves exactly as before.
 */
export interface ConnectionWatcher {
  /** The connection reported `error` while this command was pending. */
  connectionFailed(error: unknown): void;
}

const watchers = new WeakMap<object, Set<ConnectionWatcher>>();

type Emit = (this: unknown, name: string | symbol, ...args: unknown[]) => boolean;

function intercept(connection: MysqlConnection, pending: Set<ConnectionWatcher>): void {
  const emit = Reflect.get(connection, 'emit') as Emit;
  const watched: Emit = function (this: unknown, name, ...args) {
    if (pending.size > 0) {
      if (name === 'error') settleAll(pending, args[0]);
      else if (name === 'end' && connection._closing === true)
        settleAll(pending, CLOSED_BY_APPLICATION);
    }
    return emit.call(this, name, ...args);
  };
  Object.defineProperty(connection, 'emit', { value: watched, writable: true, configurable: true });
}

function settleAll(pending: Set<ConnectionWatcher>, error: unknown): void {
  const waiting = [...pending];
  pending.clear();
  for (const watcher of waiting) watcher.connectionFailed(error);
}

export function watchConnection(connection: MysqlConnection, watcher: ConnectionWatcher): void {
  let pending = watchers.get(connection);
  if (pending === undefined) {
    pending = new Set();
    watchers.set(connection, pending);
    intercept(connection, pending);
  }
  pending.add(watcher);
}

export function unwatchConnection(
  connection: MysqlConnection | undefined,
  watcher: ConnectionWatcher,
): void {
  if (connection !== undefined) watchers.get(connection)?.delete(watcher);
}
