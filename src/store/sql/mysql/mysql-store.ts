import type * as Mysql from 'mysql2';
import { markInternal } from '../../../../instrumentations/shared/internal';
import type {
  PermitGrant,
  PermitRequest,
  StoredRecord,
  StoredValue,
  WindowCount,
} from '../../../core/store';
import { SqlStoreError } from '../errors';
import { loadDriver } from '../load-driver';
import type { Migration, MigrationReport } from '../migrations';
import type { SqlStoreOptions } from '../options';
import { SqlStore } from '../sql-store';
import { checkMysqlSchema, migrateMysql, type MysqlQuery } from './migrate';
import { MessagePoller, type MessageRow } from './poller';
import { mysqlMigrations } from './schema';
import { mysqlStatements, type MysqlStatements } from './statements';

type MysqlModule = typeof Mysql;
type Connection = Mysql.PoolConnection;

/**
 * mysql2 escapes values on the client with backslashes, and the statements
 * quote strings with '…': a server default of NO_BACKSLASH_ESCAPES or
 * ANSI_QUOTES would change their meaning, so the store's sessions drop both.
 */
const SAFE_SQL_MODE =
  "SET SESSION sql_mode = TRIM(BOTH ',' FROM REPLACE(REPLACE(CONCAT(',', @@SESSION.sql_mode, ','), " +
  "',NO_BACKSLASH_ESCAPES,', ','), ',ANSI_QUOTES,', ','))";

/** Checkouts waiting at most; beyond, calls fail at once instead of piling up. */
const QUEUE_LIMIT = 1_000;

export interface MySqlStoreOptions extends SqlStoreOptions {
  /** Replace the migrations (tests simulate older schema versions with a prefix of the list). */
  readonly migrations?: readonly Migration[];
}

interface OkPacket {
  readonly affectedRows: number;
  readonly insertId: number | string;
}

/**
 * The MySQL / MariaDB state store (`store.sqlDsn = mysql://…`): durable,
 * shared, queryable with plain SQL (see ./schema.ts). A small pool of
 * connections marked internal, each with a session statement bound; every
 * connection that saw an error is destroyed rather than reused (it may hold
 * an open transaction). Publish/subscribe polls a messages table.
 */
export class MySqlStore extends SqlStore {
  readonly kind = 'mysql' as const;
  private readonly sql: MysqlStatements;
  private readonly schema: readonly Migration[];
  private mysql: MysqlModule | undefined;
  private pool: Mysql.Pool | undefined;
  private poller: MessagePoller | undefined;
  /** Learned at start: MariaDB and MySQL bound statements with different session variables. */
  private mariadb = false;

  constructor(options: MySqlStoreOptions) {
    super('mysql', options);
    this.sql = mysqlStatements(this.names);
    this.schema = options.migrations ?? mysqlMigrations(this.names);
  }

  /** The server is MariaDB (known after start). */
  get isMariaDb(): boolean {
    return this.mariadb;
  }

  // ---------------------------------------------------------------- lifecycle

  protected openPools(): void {
    if (this.pool !== undefined) return;
    const mysql = loadDriver<MysqlModule>('mysql2', 'mysql');
    const pool = mysql.createPool({
      ...this.connectionOptions(),
      connectionLimit: this.options.poolSize,
      maxIdle: this.options.poolSize,
      idleTimeout: 30_000,
      queueLimit: QUEUE_LIMIT,
      waitForConnections: true,
      multipleStatements: true,
    });
    markInternal(pool);
    pool.on('connection', connection => {
      markInternal(connection);
      connection.on('error', () => undefined); // the pool drops it; never an uncaught 'error'
      for (const statement of this.sessionSetup()) connection.query(statement, () => undefined);
    });
    // Like pg's allowExitOnIdle: an idle pooled connection never keeps the process alive; one in use does.
    pool.on('release', connection => holdOpen(connection, false));
    this.mysql = mysql;
    this.pool = pool;
  }

  protected async prepareSchema(): Promise<MigrationReport | undefined> {
    const mysql = this.mysql!;
    const connection = markInternal(
      mysql.createConnection({ ...this.connectionOptions(), multipleStatements: false }),
    );
    connection.on('error', () => undefined);
    const timeout = this.options.migrationTimeoutMs;
    const query: MysqlQuery = <T>(sql: string, values: unknown[] = []) =>
      new Promise<T>((resolve, reject) =>
        connection.query({ sql, values, timeout }, (error, result) =>
          error ? reject(error) : resolve(result as T),
        ),
      );
    try {
      await query(SAFE_SQL_MODE);
      const version = await query<{ version: string }[]>('SELECT VERSION() AS version');
      this.mariadb = /mariadb/i.test(version[0]?.version ?? '');
      return this.options.migrate
        ? await migrateMysql(query, this.names, this.schema, timeout, this.options.logger)
        : await checkMysqlSchema(query, this.names, this.schema, this.options.logger);
    } finally {
      connection.destroy();
    }
  }

  protected async closePools(): Promise<void> {
    this.poller?.close();
    this.poller = undefined;
    const pool = this.pool;
    this.pool = undefined;
    if (pool !== undefined) {
      await new Promise<void>(resolve => pool.end(() => resolve()));
    }
  }

  private connectionOptions(): Mysql.ConnectionOptions {
    const url = new URL(this.options.dsn);
    const fromQuery: Record<string, unknown> = {};
    for (const [key, value] of url.searchParams) {
      try {
        fromQuery[key] = JSON.parse(value);
      } catch {
        fromQuery[key] = value;
      }
    }
    return {
      ...fromQuery,
      host: decodeURIComponent(url.hostname.replace(/^\[(.*)\]$/, '$1')) || 'localhost',
      port: url.port === '' ? 3306 : Number(url.port),
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database: decodeURIComponent(url.pathname.slice(1)),
      connectTimeout: this.options.connectTimeoutMs,
      enableKeepAlive: true,
      charset: 'utf8mb4_unicode_ci',
      // affectedRows counts changed rows: a conditional upsert that changed nothing reports 0.
      flags: ['-FOUND_ROWS'],
      supportBigNumbers: true,
      bigNumberStrings: false,
      dateStrings: true,
      connectAttributes: { program_name: this.options.applicationName },
    };
  }

  /** Run on every new pooled connection, before its first use (mysql2 runs a connection's commands in order). */
  private sessionSetup(): string[] {
    const seconds = this.options.statementTimeoutMs / 1000;
    const lockWait = Math.max(1, Math.ceil(seconds));
    return [
      SAFE_SQL_MODE,
      this.mariadb
        ? `SET SESSION innodb_lock_wait_timeout = ${lockWait}, max_statement_time = ${seconds}`
        : `SET SESSION innodb_lock_wait_timeout = ${lockWait}, max_execution_time = ${Math.ceil(this.options.statementTimeoutMs)}`,
    ];
  }

  /** A pooled connection within `connectTimeoutMs`, or a typed timeout. */
  private acquire(operation: string): Promise<Connection> {
    const pool = this.pool;
    if (pool === undefined) return Promise.reject(this.closedError(operation));
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(
          new SqlStoreError(
            `MySQL store ${operation}: no connection within ${this.options.connectTimeoutMs} ms`,
            'timeout',
            'mysql',
            operation,
          ),
        );
      }, this.options.connectTimeoutMs);
      pool.getConnection((error, connection) => {
        if (settled) {
          if (!error) connection.release();
          return;
        }
        settled = true;
        clearTimeout(timer);
        if (error) {
          reject(error);
        } else {
          holdOpen(connection, true);
          resolve(connection);
        }
      });
    });
  }

  /** Run `sql` on a pooled connection; any failure destroys the connection (it may be mid-transaction). */
  private async exec<T>(operation: string, sql: string, values: unknown[]): Promise<T> {
    const connection = await this.acquire(operation);
    try {
      const result = await new Promise<T>((resolve, reject) =>
        connection.query(
          { sql, values, timeout: this.options.statementTimeoutMs + 1_000 },
          (error, rows) => (error ? reject(error) : resolve(rows as T)),
        ),
      );
      connection.release();
      return result;
    } catch (error) {
      connection.destroy();
      throw error;
    }
  }

  // ---------------------------------------------------------------- key/value

  protected async doGet(key: string): Promise<StoredValue | undefined> {
    const rows = await this.exec<{ value: string; version: number; live: number }[]>(
      'get',
      this.sql.get,
      [key],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    if (Number(row.live) !== 1) {
      this.background(() => this.exec('get', this.sql.forgetExpired, [key]));
      return undefined;
    }
    return { value: row.value, version: Number(row.version) };
  }

  protected async doSet(
    key: string,
    value: string,
    ttlMs: number | undefined,
    ifVersion: number | undefined,
  ): Promise<number | undefined> {
    const ttl = micros(ttlMs);
    const result =
      ifVersion === undefined
        ? await this.exec<OkPacket>('set', this.sql.set, [key, value, ttl, value, ttl])
        : ifVersion === 0
          ? await this.exec<OkPacket>('set', this.sql.setIfAbsent, [key, value, ttl, value, ttl])
          : await this.exec<OkPacket>('set', this.sql.setIfVersion, [value, ttl, key, ifVersion]);
    return result.affectedRows > 0 ? Number(result.insertId) : undefined;
  }

  protected async doDelete(key: string, ifVersion: number | undefined): Promise<boolean> {
    const result =
      ifVersion === undefined
        ? await this.exec<OkPacket>('delete', this.sql.delete, [key])
        : await this.exec<OkPacket>('delete', this.sql.deleteIfVersion, [key, ifVersion]);
    return result.affectedRows > 0;
  }

  protected async doIncrement(key: string, delta: number, windowMs: number): Promise<WindowCount> {
    const results = await this.exec<unknown[]>('increment', this.sql.increment, [
      key,
      delta,
      delta,
      micros(windowMs),
      key,
      key,
    ]);
    const row = lastRows<{ num: number; reset_ms: number | null }>(results);
    return {
      value: Number(row.num),
      resetInMs: row.reset_ms === null ? Infinity : Math.max(0, Number(row.reset_ms)),
    };
  }

  protected async doRaise(key: string, value: number, ttlMs: number): Promise<number> {
    const results = await this.exec<unknown[]>('raise', this.sql.raise, [
      key,
      value,
      key,
      value,
      value,
      micros(ttlMs),
      key,
      value,
    ]);
    return Number(lastRows<{ num: number }>(results).num);
  }

  protected async doTakePermits(key: string, request: PermitRequest): Promise<PermitGrant> {
    const results = await this.exec<unknown[]>('takePermits', this.sql.takePermits, [
      request.requested,
      request.limit,
      request.perMs,
      request.burst,
      key,
      key,
      key,
    ]);
    const row = lastRows<{ granted: number; retry_after_ms: number }>(results);
    return { granted: Number(row.granted), retryAfterMs: Number(row.retry_after_ms) };
  }

  // ---------------------------------------------------------------- records

  protected async doAddRecord(
    collection: string,
    id: string,
    value: string,
    maxRecords: number,
    ttlMs: number | undefined,
  ): Promise<void> {
    await this.exec('addRecord', this.sql.addRecord, [
      collection,
      maxRecords,
      maxRecords,
      collection,
      id,
      collection,
      id,
      value,
      micros(ttlMs),
      collection,
      collection,
      maxRecords,
    ]);
  }

  protected async doGetRecord(collection: string, id: string): Promise<StoredRecord | undefined> {
    const rows = await this.exec<{ value: string; version: number; live: number }[]>(
      'getRecord',
      this.sql.getRecord,
      [collection, id],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    if (Number(row.live) !== 1) {
      this.background(() => this.exec('getRecord', this.sql.forgetExpiredRecord, [collection, id]));
      return undefined;
    }
    return { id, value: row.value, version: Number(row.version) };
  }

  protected async doUpdateRecord(
    collection: string,
    id: string,
    value: string,
    ifVersion: number | undefined,
  ): Promise<number | undefined> {
    const result =
      ifVersion === undefined
        ? await this.exec<OkPacket>('updateRecord', this.sql.updateRecord, [value, collection, id])
        : await this.exec<OkPacket>('updateRecord', this.sql.updateRecordIfVersion, [
            value,
            collection,
            id,
            ifVersion,
          ]);
    return result.affectedRows > 0 ? Number(result.insertId) : undefined;
  }

  protected async doListRecords(
    collection: string,
    limit: number,
    beforeId: string | undefined,
  ): Promise<StoredRecord[]> {
    const rows =
      beforeId === undefined
        ? await this.exec<{ id: Buffer; value: string; version: number }[]>(
            'listRecords',
            this.sql.listRecords,
            [collection, limit],
          )
        : await this.exec<{ id: Buffer; value: string; version: number }[]>(
            'listRecords',
            this.sql.listRecordsBefore,
            [collection, collection, beforeId, limit],
          );
    return rows.map(row => ({
      id: Buffer.isBuffer(row.id) ? row.id.toString('utf8') : String(row.id),
      value: row.value,
      version: Number(row.version),
    }));
  }

  protected async doRemoveRecord(collection: string, id: string): Promise<boolean> {
    const result = await this.exec<OkPacket>('removeRecord', this.sql.removeRecord, [
      collection,
      id,
    ]);
    return result.affectedRows > 0;
  }

  protected async doCountRecords(collection: string): Promise<number> {
    const rows = await this.exec<{ count: number }[]>('countRecords', this.sql.countRecords, [
      collection,
    ]);
    return Number(rows[0]?.count ?? 0);
  }

  // ---------------------------------------------------------------- publish / subscribe

  protected async doPublish(channel: string, message: string): Promise<void> {
    await this.exec('publish', this.sql.publish, [channel, message]);
  }

  protected startSubscriber(): Promise<void> {
    this.poller ??= new MessagePoller(
      async (afterId, limit) => {
        const rows = await this.exec<{ id: number; channel: Buffer; payload: string }[]>(
          'subscribe',
          this.sql.poll,
          [afterId, limit],
        );
        return rows.map((row): MessageRow => ({
          id: Number(row.id),
          channel: Buffer.isBuffer(row.channel)
            ? row.channel.toString('utf8')
            : String(row.channel),
          payload: row.payload,
        }));
      },
      async () => {
        const rows = await this.exec<{ id: number }[]>('subscribe', this.sql.lastMessageId, []);
        return Number(rows[0]?.id ?? 0);
      },
      (channel, payload) => this.deliver(channel, payload),
      this.options.pollIntervalMs,
      this.options.statementTimeoutMs + 2_000,
      () => this.hasSubscribers && !this.closed,
      this.options.logger,
    );
    return this.poller.ensure();
  }

  // ---------------------------------------------------------------- sweep

  protected async doSweep(): Promise<number> {
    let deleted = 0;
    for (const [index, statement] of this.sql.sweep.entries()) {
      const values =
        index === this.sql.sweep.length - 1 ? [micros(this.options.messageRetentionMs)] : [];
      const result = await this.exec<OkPacket>('sweep', statement, values);
      deleted += result.affectedRows;
    }
    return deleted;
  }
}

/** Ref or unref the connection's socket. */
function holdOpen(connection: Connection, hold: boolean): void {
  const socket = (connection as { stream?: { ref?: () => void; unref?: () => void } }).stream;
  if (hold) socket?.ref?.();
  else socket?.unref?.();
}

/** Milliseconds to whole microseconds for TIMESTAMPADD, or NULL (no expiry). */
function micros(ms: number | undefined): number | null {
  return ms === undefined ? null : Math.round(ms * 1000);
}

/** The rows of the last SELECT in a multi-statement result (the one before COMMIT). */
function lastRows<T>(results: unknown[]): T {
  for (let i = results.length - 1; i >= 0; i--) {
    const rows = results[i];
    if (Array.isArray(rows) && rows.length > 0) return rows[0] as T;
  }
  throw new SqlStoreError(
    'MySQL store: a statement returned no result row',
    'rejected',
    'mysql',
    'query',
  );
}
