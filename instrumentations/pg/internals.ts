import { connect, type Socket } from 'node:net';
import { noop } from '../shared/callbacks';

/**
 * The few pg / pg-pool internals the instrumentation touches, all of them only
 * to stop work after a timeout (pg has no cancellation API for a queued query
 * or a pending checkout). They are stable across pg 8.x and pg-pool 3.x; every
 * caller runs them guarded, so a change in a future release degrades to
 * "the timed-out work is left to finish" rather than to an error.
 */
export interface PgClient {
  readonly connectionParameters?: Record<string, unknown>;
  readonly host?: unknown;
  readonly port?: unknown;
  readonly processID?: unknown;
  readonly secretKey?: unknown;
  readonly connection?: { readonly stream?: { destroy(): void } };
  readonly _Promise?: unknown;
  readonly _queryQueue?: unknown[];
  readonly _sentQueryQueue?: unknown[];
  readonly _activeQuery?: unknown;
  readonly _connected?: boolean;
  getTransactionStatus?(): unknown;
  end(callback?: () => void): unknown;
}

export interface PgPool {
  readonly options?: Record<string, unknown>;
  readonly Promise?: unknown;
  readonly _clients?: PgClient[];
  readonly _pendingQueue?: { callback?: unknown }[];
}

/** Queries waiting on the client before a submission. */
export function queueLength(client: PgClient): number {
  return Array.isArray(client._queryQueue) ? client._queryQueue.length : 0;
}

/**
 * The query object `Client.query` just created: pushed at the end of the
 * queue, or already submitted when the client was idle.
 */
export function locateQuery(client: PgClient, queuedBefore: number): unknown {
  const queue = client._queryQueue;
  if (Array.isArray(queue) && queue.length > queuedBefore) return queue[queue.length - 1];
  if (client._activeQuery !== undefined && client._activeQuery !== null) return client._activeQuery;
  const sent = client._sentQueryQueue;
  return Array.isArray(sent) && sent.length > 0 ? sent[sent.length - 1] : undefined;
}

/**
 * How long a cancelled statement may take to stop before its connection is
 * closed instead (a server that does not answer will not process the cancel
 * request either).
 */
export const CANCEL_GRACE_MS = 1_000;

/**
 * PostgreSQL's CancelRequest (protocol "Canceling Requests in Progress"): a
 * separate, short-lived connection carrying the backend's process id and
 * secret key — what `pg`'s own `Client#cancel` sends, minus its deprecation
 * warning. Bounded by `lifetimeMs`, unref'd, errors ignored.
 */
function sendCancelRequest(client: PgClient, lifetimeMs: number): void {
  const { processID, secretKey } = client;
  if (typeof processID !== 'number' || typeof secretKey !== 'number') return;
  const configured = client.host ?? client.connectionParameters?.host;
  const host = typeof configured === 'string' && configured !== '' ? configured : 'localhost';
  const port = Number(client.port ?? client.connectionParameters?.port ?? 5432);
  // A host starting with '/' is the directory of a Unix socket, as for pg itself.
  const socket: Socket = host.startsWith('/')
    ? connect(`${host}/.s.PGSQL.${port}`)
    : connect(port, host);
  const packet = Buffer.alloc(16);
  packet.writeInt32BE(16, 0);
  packet.writeInt32BE(80877102, 4); // the CancelRequest code
  packet.writeInt32BE(processID, 8);
  packet.writeInt32BE(secretKey, 12);
  socket.once('connect', () => socket.end(packet));
  socket.on('error', noop);
  socket.setTimeout(lifetimeMs, () => socket.destroy());
  socket.unref();
}

function isRunning(client: PgClient, query: unknown): boolean {
  if (query === undefined || query === null) return false;
  return (
    client._activeQuery === query ||
    (Array.isArray(client._sentQueryQueue) && client._sentQueryQueue.includes(query))
  );
}

/**
 * Stop a timed-out query. One still waiting in the client's queue is removed:
 * it never reaches the server. One already sent gets a cancel request, so the
 * server aborts it (a write the application was told timed out does not
 * commit later) and the client stays usable; if it is still running
 * `CANCEL_GRACE_MS` later (a server that does not answer), the client is
 * ended — `end()`, not a socket error, so no 'error' event is emitted that an
 * application may not listen for — and a pool replaces it.
 */
export function cancelQuery(client: PgClient, query: unknown): void {
  const queue = client._queryQueue;
  if (query !== undefined && Array.isArray(queue)) {
    const index = queue.indexOf(query);
    if (index !== -1) {
      queue.splice(index, 1);
      return;
    }
  }
  const running = query ?? client._activeQuery;
  if (!isRunning(client, running)) return;
  sendCancelRequest(client, CANCEL_GRACE_MS);
  setTimeout(() => {
    if (isRunning(client, running)) client.end(noop);
  }, CANCEL_GRACE_MS).unref();
}

/** Clients the pool holds (connected or connecting). */
export function clientCount(pool: PgPool): number {
  return Array.isArray(pool._clients) ? pool._clients.length : -1;
}

/** The client pg-pool started connecting during a checkout, if it did. */
export function newClientSince(pool: PgPool, countBefore: number): PgClient | undefined {
  const clients = pool._clients;
  return countBefore >= 0 && Array.isArray(clients) && clients.length > countBefore
    ? clients[countBefore]
    : undefined;
}

/**
 * Give up a timed-out checkout. A connection being opened for it is destroyed
 * (what pg-pool's own `connectionTimeoutMillis` does; pg-pool then drops the
 * client); a wait in the pool's queue is removed. A client handed over later
 * anyway is released by the caller.
 */
export function abandonCheckout(
  pool: PgPool,
  connecting: PgClient | undefined,
  callback: unknown,
): void {
  if (connecting !== undefined && connecting._connected !== true) {
    connecting.connection?.stream?.destroy();
    return;
  }
  const pending = pool._pendingQueue;
  if (callback === undefined || !Array.isArray(pending)) return;
  const index = pending.findIndex(item => item.callback === callback);
  if (index !== -1) pending.splice(index, 1);
}
