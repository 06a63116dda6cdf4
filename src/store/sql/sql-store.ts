import type {
  PermitGrant,
  PermitRequest,
  RecordOptions,
  SetOptions,
  StateStore,
  StoredRecord,
  StoredValue,
  Subscription,
  WindowCount,
} from '../../core/store';
import { StoreError } from '../../core/store-errors';
import {
  classifyMysqlError,
  classifyPostgresError,
  errorCode,
  isRetryableConflict,
  SqlStoreError,
  type SqlDialect,
} from './errors';
import type { MigrationReport } from './migrations';
import { checkName, MAX_NAME_BYTES, sqlNames, storageKey, type SqlNames } from './names';
import {
  resolveSqlStoreOptions,
  type ResolvedSqlStoreOptions,
  type SqlStoreOptions,
} from './options';

/** After a failed start (database down at boot), calls fail fast with that error for this long. */
const START_RETRY_MS = 1_000;
/** Deadlocks and serialization failures are retried this many times (the statement was rolled back). */
const CONFLICT_RETRIES = 3;

type Handler = (message: string) => void;

/**
 * What the PostgreSQL and MySQL stores share: lazy start (connect, then
 * migrate or check the schema, at the first call or at `start()`), typed
 * errors, retry of deadlock victims, argument checks, the local side of
 * publish/subscribe, and the periodic sweep of expired rows.
 *
 * No call waits on the database for longer than its bounds: opening or
 * checking out a connection (`connectTimeoutMs`) and each statement
 * (`statementTimeoutMs`, enforced by the server and again by the client).
 */
export abstract class SqlStore implements StateStore {
  abstract readonly kind: SqlDialect;
  protected readonly options: ResolvedSqlStoreOptions;
  protected readonly names: SqlNames;
  protected closed = false;
  private started = false;
  private starting: Promise<void> | undefined;
  private lastStartFailure: { atMs: number; error: StoreError } | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly handlers = new Map<string, Set<Handler>>();
  private migrationReport: MigrationReport | undefined;

  protected constructor(
    protected readonly dialect: SqlDialect,
    options: SqlStoreOptions,
  ) {
    this.options = resolveSqlStoreOptions(options);
    this.names = sqlNames(dialect, this.options.keyPrefix);
  }

  /** For log lines: engine, server and table prefix, never credentials. */
  describe(): string {
    const engine = this.dialect === 'postgresql' ? 'PostgreSQL' : 'MySQL';
    try {
      const url = new URL(this.options.dsn);
      return `${engine} ${url.host}${url.pathname} (tables ${this.names.prefix}_*)`;
    } catch {
      return `${engine} (tables ${this.names.prefix}_*)`;
    }
  }

  /** The outcome of the migration run (or, with migration off, of the schema check) at start; undefined before. */
  get migrations(): MigrationReport | undefined {
    return this.migrationReport;
  }

  /**
   * Connect and bring the schema up to date (or, with `migrate: false`, check
   * it). Every call does this lazily; calling it first surfaces a bad DSN or
   * missing privileges at boot.
   */
  start(): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError('start'));
    if (this.started) return Promise.resolve();
    if (this.starting !== undefined) return this.starting;
    const failure = this.lastStartFailure;
    if (failure !== undefined && Date.now() - failure.atMs < START_RETRY_MS) {
      return Promise.reject(failure.error);
    }
    this.starting = (async () => {
      try {
        this.openPools();
        this.migrationReport = await this.prepareSchema();
        if (this.closed) throw this.closedError('start');
        this.started = true;
        this.lastStartFailure = undefined;
        this.scheduleSweep();
      } catch (error) {
        const wrapped = this.wrap(error, 'start');
        this.lastStartFailure = { atMs: Date.now(), error: wrapped };
        throw wrapped;
      } finally {
        this.starting = undefined;
      }
    })();
    return this.starting;
  }

  // ---------------------------------------------------------------- the port

  get(key: string): Promise<StoredValue | undefined> {
    return this.run('get', () => this.doGet(storageKey(key)));
  }

  set(key: string, value: string, options: SetOptions = {}): Promise<number | undefined> {
    return this.run('set', () =>
      this.doSet(
        storageKey(key),
        this.checkValue('set', value),
        options.ttlMs === undefined ? undefined : this.checkNumber('set', options.ttlMs),
        options.ifVersion === undefined ? undefined : this.checkNumber('set', options.ifVersion),
      ),
    );
  }

  delete(key: string, ifVersion?: number): Promise<boolean> {
    return this.run('delete', () => this.doDelete(storageKey(key), ifVersion));
  }

  increment(key: string, delta: number, windowMs: number): Promise<WindowCount> {
    return this.run('increment', () =>
      this.doIncrement(
        storageKey(key),
        this.checkNumber('increment', delta),
        this.checkNumber('increment', windowMs),
      ),
    );
  }

  raise(key: string, value: number, ttlMs: number): Promise<number> {
    return this.run('raise', () =>
      this.doRaise(
        storageKey(key),
        this.checkNumber('raise', value),
        this.checkNumber('raise', ttlMs),
      ),
    );
  }

  takePermits(key: string, request: PermitRequest): Promise<PermitGrant> {
    return this.run('takePermits', () => {
      for (const field of ['requested', 'limit', 'perMs', 'burst'] as const) {
        this.checkNumber('takePermits', request[field]);
      }
      if (request.limit <= 0 || request.perMs <= 0) {
        throw new SqlStoreError(
          'takePermits needs a positive limit and period',
          'rejected',
          this.dialect,
          'takePermits',
        );
      }
      return this.doTakePermits(storageKey(key), request);
    });
  }

  addRecord(collection: string, id: string, value: string, options: RecordOptions): Promise<void> {
    return this.run('addRecord', () =>
      this.doAddRecord(
        checkName(this.dialect, 'addRecord', 'collection', collection),
        checkName(this.dialect, 'addRecord', 'record id', id),
        this.checkValue('addRecord', value),
        Math.max(0, Math.floor(this.checkNumber('addRecord', options.maxRecords))),
        options.ttlMs === undefined ? undefined : this.checkNumber('addRecord', options.ttlMs),
      ),
    );
  }

  getRecord(collection: string, id: string): Promise<StoredRecord | undefined> {
    return this.run('getRecord', () =>
      this.doGetRecord(
        checkName(this.dialect, 'getRecord', 'collection', collection),
        checkName(this.dialect, 'getRecord', 'record id', id),
      ),
    );
  }

  updateRecord(
    collection: string,
    id: string,
    value: string,
    ifVersion?: number,
  ): Promise<number | undefined> {
    return this.run('updateRecord', () =>
      this.doUpdateRecord(
        checkName(this.dialect, 'updateRecord', 'collection', collection),
        checkName(this.dialect, 'updateRecord', 'record id', id),
        this.checkValue('updateRecord', value),
        ifVersion,
      ),
    );
  }

  listRecords(
    collection: string,
    options: { limit: number; beforeId?: string },
  ): Promise<StoredRecord[]> {
    return this.run('listRecords', () => {
      const limit = Math.max(0, Math.floor(this.checkNumber('listRecords', options.limit)));
      if (limit === 0) return Promise.resolve([]);
      return this.doListRecords(
        checkName(this.dialect, 'listRecords', 'collection', collection),
        limit,
        options.beforeId === undefined
          ? undefined
          : checkName(this.dialect, 'listRecords', 'record id', options.beforeId),
      );
    });
  }

  removeRecord(collection: string, id: string): Promise<boolean> {
    return this.run('removeRecord', () =>
      this.doRemoveRecord(
        checkName(this.dialect, 'removeRecord', 'collection', collection),
        checkName(this.dialect, 'removeRecord', 'record id', id),
      ),
    );
  }

  countRecords(collection: string): Promise<number> {
    return this.run('countRecords', () =>
      this.doCountRecords(checkName(this.dialect, 'countRecords', 'collection', collection)),
    );
  }

  publish(channel: string, message: string): Promise<void> {
    return this.run('publish', () =>
      this.doPublish(storageKey(channel, MAX_NAME_BYTES), this.checkValue('publish', message)),
    );
  }

  subscribe(channel: string, onMessage: (message: string) => void): Promise<Subscription> {
    const stored = storageKey(channel, MAX_NAME_BYTES);
    return this.run('subscribe', async () => {
      let handlers = this.handlers.get(stored);
      if (handlers === undefined) {
        handlers = new Set();
        this.handlers.set(stored, handlers);
      }
      const handler: Handler = message => onMessage(message);
      handlers.add(handler);
      try {
        await this.startSubscriber();
      } catch (error) {
        this.removeHandler(stored, handler);
        throw error;
      }
      let active = true;
      return {
        unsubscribe: () => {
          if (active) {
            active = false;
            this.removeHandler(stored, handler);
          }
          return Promise.resolve();
        },
      };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweepTimer !== undefined) clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    this.handlers.clear();
    await this.closePools();
  }

  /**
   * Delete expired rows and old messages now, in bounded batches (the
   * periodic sweep calls this). Resolves to the rows deleted; never rejects.
   */
  async sweep(): Promise<number> {
    if (this.closed || !this.started) return 0;
    try {
      return await this.doSweep();
    } catch (error) {
      this.options.logger?.debug(`SQL store sweep failed: ${String(error)}`);
      return 0;
    }
  }

  // ---------------------------------------------------------------- for the dialects

  protected abstract openPools(): void;
  protected abstract prepareSchema(): Promise<MigrationReport | undefined>;
  protected abstract closePools(): Promise<void>;
  protected abstract doGet(key: string): Promise<StoredValue | undefined>;
  protected abstract doSet(
    key: string,
    value: string,
    ttlMs: number | undefined,
    ifVersion: number | undefined,
  ): Promise<number | undefined>;
  protected abstract doDelete(key: string, ifVersion: number | undefined): Promise<boolean>;
  protected abstract doIncrement(
    key: string,
    delta: number,
    windowMs: number,
  ): Promise<WindowCount>;
  protected abstract doRaise(key: string, value: number, ttlMs: number): Promise<number>;
  protected abstract doTakePermits(key: string, request: PermitRequest): Promise<PermitGrant>;
  protected abstract doAddRecord(
    collection: string,
    id: string,
    value: string,
    maxRecords: number,
    ttlMs: number | undefined,
  ): Promise<void>;
  protected abstract doGetRecord(collection: string, id: string): Promise<StoredRecord | undefined>;
  protected abstract doUpdateRecord(
    collection: string,
    id: string,
    value: string,
    ifVersion: number | undefined,
  ): Promise<number | undefined>;
  protected abstract doListRecords(
    collection: string,
    limit: number,
    beforeId: string | undefined,
  ): Promise<StoredRecord[]>;
  protected abstract doRemoveRecord(collection: string, id: string): Promise<boolean>;
  protected abstract doCountRecords(collection: string): Promise<number>;
  protected abstract doPublish(channel: string, message: string): Promise<void>;
  /** Make sure messages published from now on reach `deliver` (LISTEN / start polling). */
  protected abstract startSubscriber(): Promise<void>;
  protected abstract doSweep(): Promise<number>;

  /** Hand a message that arrived on (stored) `channel` to its local subscribers. */
  protected deliver(channel: string, message: string): void {
    const handlers = this.handlers.get(channel);
    if (handlers === undefined) return;
    for (const handler of [...handlers]) {
      try {
        handler(message);
      } catch (error) {
        this.options.logger?.debug(`a store subscriber threw: ${String(error)}`);
      }
    }
  }

  protected get hasSubscribers(): boolean {
    return this.handlers.size > 0;
  }

  /** Run a background statement whose failure does not matter (lazy clean-up). */
  protected background(work: () => Promise<unknown>): void {
    if (this.closed) return;
    work().catch((error: unknown) =>
      this.options.logger?.debug(`SQL store clean-up failed: ${String(error)}`),
    );
  }

  protected wrap(error: unknown, operation: string): StoreError {
    if (error instanceof StoreError) return error;
    if (this.closed) return this.closedError(operation, error);
    const failure =
      this.dialect === 'postgresql' ? classifyPostgresError(error) : classifyMysqlError(error);
    const message = error instanceof Error ? error.message : String(error);
    return new SqlStoreError(message, failure, this.dialect, operation, {
      cause: error,
      code: errorCode(error),
    });
  }

  protected closedError(operation: string, cause?: unknown): SqlStoreError {
    return new SqlStoreError(
      'the store is closed',
      'closed',
      this.dialect,
      operation,
      cause === undefined ? {} : { cause },
    );
  }

  // ---------------------------------------------------------------- internals

  private async run<T>(operation: string, body: () => Promise<T>): Promise<T> {
    if (this.closed) throw this.closedError(operation);
    if (!this.started) await this.start();
    for (let attempt = 0; ; attempt++) {
      try {
        return await body();
      } catch (error) {
        if (this.closed) throw this.closedError(operation, error);
        if (attempt < CONFLICT_RETRIES && isRetryableConflict(this.dialect, error)) continue;
        throw this.wrap(error, operation);
      }
    }
  }

  private removeHandler(channel: string, handler: Handler): void {
    const handlers = this.handlers.get(channel);
    if (handlers === undefined) return;
    handlers.delete(handler);
    if (handlers.size === 0) this.handlers.delete(channel);
  }

  private checkValue(operation: string, value: string): string {
    if (typeof value !== 'string') {
      throw new SqlStoreError('values must be strings', 'rejected', this.dialect, operation);
    }
    if (this.dialect === 'postgresql' && value.includes('\0')) {
      throw new SqlStoreError(
        'PostgreSQL text cannot hold U+0000; encode such values (JSON does)',
        'rejected',
        this.dialect,
        operation,
      );
    }
    return value;
  }

  private checkNumber(operation: string, value: number): number {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new SqlStoreError(
        `${operation} needs finite numbers (got ${String(value)})`,
        'rejected',
        this.dialect,
        operation,
      );
    }
    return value;
  }

  private scheduleSweep(): void {
    const period = this.options.sweepIntervalMs;
    if (period === 0 || this.closed) return;
    // Jittered, so a fleet started together does not sweep in lock step.
    const delay = period * (0.75 + Math.random() * 0.5);
    this.sweepTimer = setTimeout(() => {
      void this.sweep().finally(() => this.scheduleSweep());
    }, delay);
    this.sweepTimer.unref();
  }
}
