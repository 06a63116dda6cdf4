import { StoreError } from '../../core/store-errors';

/** What the gate needs from an ioredis `Redis` or `Cluster`. */
export interface Connectable {
  readonly status: string;
  connect(): Promise<void>;
  on(event: 'ready' | 'end', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined); // nobody may be waiting when a connection attempt fails
  return { promise, resolve, reject };
}

const RESOLVED = Promise.resolve();

/**
 * Connects on demand and lets callers wait, for a bounded time, until the
 * client is ready. The agent's clients never queue commands while offline and
 * never reconnect on their own timers (those would keep an idle process
 * alive): a call that finds the client disconnected starts a connection
 * attempt and waits for it at most its own budget; while the store is down,
 * the resilient decorator's background probe is what keeps trying.
 */
export class ConnectionGate {
  /** The last connection-level error ioredis reported (cleared on each new attempt). */
  lastError: Error | undefined;
  private waiting: Deferred | undefined;

  constructor(private readonly client: Connectable) {
    client.on('ready', () => {
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.resolve();
    });
    client.on('end', () => {
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.reject(this.lastError ?? new Error('connection closed'));
    });
    // Without a listener ioredis's 'error' events would crash the process.
    client.on('error', error => {
      this.lastError = error;
    });
  }

  get ready(): boolean {
    return this.client.status === 'ready';
  }

  /** Resolves once the client is ready; rejects when the attempt fails or after `timeoutMs`. */
  wait(timeoutMs: number): Promise<void> {
    const status = this.client.status;
    if (status === 'ready') return RESOLVED;
    const waiting = (this.waiting ??= deferred());
    if (status === 'wait' || status === 'end') {
      this.lastError = undefined;
      this.client.connect().catch(() => undefined); // reported through 'error' and 'end'
    }
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`not connected within ${timeoutMs} ms`)),
        timeoutMs,
      );
      waiting.promise.then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }
}

/**
 * Error replies that mean "the store cannot serve this now" rather than "this
 * request is wrong": a server loading its dataset, a replica after failover,
 * a cluster slot migrating or without quorum, a script hogging the server, no
 * memory, a failing disk.
 */
const UNAVAILABLE_REPLY =
  /^(LOADING|READONLY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|BUSY|OOM|NOREPLICAS|MISCONF|UNBLOCKED|NOAUTH|WRONGPASS)\b/;

/** Translate anything ioredis throws into a typed store error. */
export function toStoreError(operation: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const name = error instanceof Error ? error.name : '';
  if (name === 'ReplyError') {
    return new StoreError(
      'redis',
      operation,
      UNAVAILABLE_REPLY.test(message) ? 'unavailable' : 'failed',
      message,
      { cause: error },
    );
  }
  if (message === 'Command timed out') {
    return new StoreError('redis', operation, 'timeout', 'no reply in time', { cause: error });
  }
  // Connection refused, reset or closed, not writable, DNS, TLS, cluster not ready, no sentinel…
  return new StoreError('redis', operation, 'unavailable', message, { cause: error });
}

/**
 * A connection that could not be made ready (refused, TLS, a wrong password
 * in the handshake …): an outage for the store's breaker, whatever the error.
 */
export function connectionError(operation: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new StoreError('redis', operation, 'unavailable', message, { cause: error });
}
