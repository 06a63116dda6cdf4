import type * as Pg from 'pg';
import { markInternal } from '../../../../instrumentations/shared/internal';
import type {
  PermitGrant,
  PermitRequest,
  StoredRecord,
  StoredValue,
  WindowCount,
} from '../../../core/store';
import { loadDriver } from '../load-driver';
import type { Migration, MigrationReport } from '../migrations';
import type { SqlStoreOptions } from '../options';
import { SqlStore } from '../sql-store';
import { PgListener } from './listener';
import { checkPostgresSchema, migratePostgres } from './migrate';
import { postgresMigrations } from './schema';
import { postgresStatements, type PostgresStatements } from './statements';

type PgModule = typeof Pg;

/** NOTIFY payloads must stay under 8000 bytes; larger messages go through the messages table. */
const MAX_INLINE_PAYLOAD_BYTES = 7_900;

export interface PostgresStoreOptions extends SqlStoreOptions {
  /** Replace the migrations (tests simulate older schema versions with a prefix of the list). */
  readonly migrations?: readonly Migration[];
}

/**
 * The PostgreSQL state store (`store.sqlDsn = postgresql://…`): durable,
 * shared by every instance, queryable with plain SQL (see ./schema.ts).
 * One small pool of connections marked internal (the agent never polices its
 * own traffic), plus one dedicated LISTEN connection while anyone subscribes.
 */
export class PostgresStore extends SqlStore {
  readonly kind = 'postgresql' as const;
  private readonly sql: PostgresStatements;
  private readonly schema: readonly Migration[];
  private readonly statementName: string;
  private pg: PgModule | undefined;
  private pool: Pg.Pool | undefined;
  private listener: PgListener | undefined;

  constructor(options: PostgresStoreOptions) {
    super('postgresql', options);
    this.sql = postgresStatements(this.names);
    this.schema = options.migrations ?? postgresMigrations(this.names);
    this.statementName = `baldur_${this.names.prefix}_`;
  }

  /** Reconnections of the LISTEN connection so far (0 before the first subscription). */
  get listenerConnects(): number {
    return this.listener?.connects ?? 0;
  }

  // ---------------------------------------------------------------- lifecycle

  protected openPools(): void {
    if (this.pool !== undefined) return;
    const pg = loadDriver<PgModule>('pg', 'postgresql');
    const InternalClient = class extends pg.Client {
      constructor(config?: string | Pg.ClientConfig) {
        super(config);
        markInternal(this);
      }
    };
    const pool = new pg.Pool({
      ...this.clientConfig(this.options.statementTimeoutMs),
      max: this.options.poolSize,
      idleTimeoutMillis: 30_000,
      allowExitOnIdle: true,
      Client: InternalClient as unknown as new () => Pg.ClientBase,
    });
    markInternal(pool);
    // An idle client losing its connection must not become an uncaught 'error' event.
    pool.on('error', error =>
      this.options.logger?.debug(`PostgreSQL store: idle connection failed: ${error.message}`),
    );
    this.pg = pg;
    this.pool = pool;
  }

  protected async prepareSchema(): Promise<MigrationReport | undefined> {
    const client = this.newClient(this.options.migrationTimeoutMs);
    client.on('error', () => undefined);
    await client.connect();
    try {
      return this.options.migrate
        ? await migratePostgres(
            client,
            this.names,
            this.schema,
            this.options.migrationTimeoutMs,
            this.options.logger,
          )
        : await checkPostgresSchema(client, this.names, this.schema, this.options.logger);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  protected async closePools(): Promise<void> {
    const listener = this.listener;
    const pool = this.pool;
    this.listener = undefined;
    this.pool = undefined;
    await Promise.all([listener?.close(), pool?.end().catch(() => undefined)]);
  }

  private clientConfig(statementTimeoutMs: number): Pg.ClientConfig {
    return {
      connectionString: this.options.dsn,
      application_name: this.options.applicationName,
      statement_timeout: statementTimeoutMs,
      lock_timeout: statementTimeoutMs,
      idle_in_transaction_session_timeout: Math.max(10_000, statementTimeoutMs * 2),
      // The client-side bound, a little later than the server's, for a server that stopped answering.
      query_timeout: statementTimeoutMs + 1_000,
      connectionTimeoutMillis: this.options.connectTimeoutMs,
      keepAlive: true,
    };
  }

  private newClient(statementTimeoutMs: number): Pg.Client {
    const pg = this.pg ?? loadDriver<PgModule>('pg', 'postgresql');
    return markInternal(new pg.Client(this.clientConfig(statementTimeoutMs)));
  }

  private async query<R extends Pg.QueryResultRow>(
    name: string,
    text: string,
    values: unknown[],
  ): Promise<Pg.QueryResult<R>> {
    const pool = this.pool;
    if (pool === undefined) throw this.closedError(name);
    return pool.query<R>({ name: this.statementName + name, text, values });
  }

  // ---------------------------------------------------------------- key/value

  protected async doGet(key: string): Promise<StoredValue | undefined> {
    const { rows } = await this.query<{ value: string; version: string; live: boolean }>(
      'get',
      this.sql.get,
      [key],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    if (!row.live) {
      this.background(() => this.query('forget', this.sql.forgetExpired, [key]));
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
    const ttl = ttlMs ?? null;
    const { rows } =
      ifVersion === undefined
        ? await this.query<{ version: string }>('set', this.sql.set, [key, value, ttl])
        : ifVersion === 0
          ? await this.query<{ version: string }>('set_absent', this.sql.setIfAbsent, [
              key,
              value,
              ttl,
            ])
          : await this.query<{ version: string }>('set_cas', this.sql.setIfVersion, [
              key,
              value,
              ttl,
              ifVersion,
            ]);
    return rows[0] === undefined ? undefined : Number(rows[0].version);
  }

  protected async doDelete(key: string, ifVersion: number | undefined): Promise<boolean> {
    const result =
      ifVersion === undefined
        ? await this.query('delete', this.sql.delete, [key])
        : await this.query('delete_cas', this.sql.deleteIfVersion, [key, ifVersion]);
    return (result.rowCount ?? 0) > 0;
  }

  protected async doIncrement(key: string, delta: number, windowMs: number): Promise<WindowCount> {
    const { rows } = await this.query<{ num: number; reset_ms: number | null }>(
      'increment',
      this.sql.increment,
      [key, delta, windowMs],
    );
    const row = rows[0]!;
    return {
      value: row.num,
      resetInMs: row.reset_ms === null ? Infinity : Math.max(0, row.reset_ms),
    };
  }

  protected async doRaise(key: string, value: number, ttlMs: number): Promise<number> {
    const { rows } = await this.query<{ num: number }>('raise', this.sql.raise, [
      key,
      value,
      ttlMs,
    ]);
    return rows[0]!.num;
  }

  protected async doTakePermits(key: string, request: PermitRequest): Promise<PermitGrant> {
    const { rows } = await this.query<{ granted: number; retry_after_ms: number }>(
      'permits',
      this.sql.takePermits,
      [key, request.requested, request.limit, request.perMs, request.burst],
    );
    const row = rows[0]!;
    return { granted: row.granted, retryAfterMs: row.retry_after_ms };
  }

  // ---------------------------------------------------------------- records

  protected async doAddRecord(
    collection: string,
    id: string,
    value: string,
    maxRecords: number,
    ttlMs: number | undefined,
  ): Promise<void> {
    const pool = this.pool;
    if (pool === undefined) throw this.closedError('addRecord');
    const pg = this.pg!;
    // pg ≥ 8.9 exports it; older 8.x have it on the client prototype (it does not use `this`).
    const literal = (text: string): string =>
      typeof pg.escapeLiteral === 'function'
        ? pg.escapeLiteral(text)
        : pg.Client.prototype.escapeLiteral(text);
    // Three statements in one simple-protocol message: one round trip, one implicit transaction.
    await pool.query(
      this.sql.addRecord(
        literal(collection),
        literal(id),
        literal(value),
        String(maxRecords),
        ttlMs === undefined ? 'NULL' : String(ttlMs),
      ),
    );
  }

  protected async doGetRecord(collection: string, id: string): Promise<StoredRecord | undefined> {
    const { rows } = await this.query<{ value: string; version: string; live: boolean }>(
      'record_get',
      this.sql.getRecord,
      [collection, id],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    if (!row.live) {
      this.background(() =>
        this.query('record_forget', this.sql.forgetExpiredRecord, [collection, id]),
      );
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
    const { rows } =
      ifVersion === undefined
        ? await this.query<{ version: string }>('record_update', this.sql.updateRecord, [
            collection,
            id,
            value,
          ])
        : await this.query<{ version: string }>('record_cas', this.sql.updateRecordIfVersion, [
            collection,
            id,
            value,
            ifVersion,
          ]);
    return rows[0] === undefined ? undefined : Number(rows[0].version);
  }

  protected async doListRecords(
    collection: string,
    limit: number,
    beforeId: string | undefined,
  ): Promise<StoredRecord[]> {
    const { rows } =
      beforeId === undefined
        ? await this.query<{ id: string; value: string; version: string }>(
            'record_list',
            this.sql.listRecords,
            [collection, limit],
          )
        : await this.query<{ id: string; value: string; version: string }>(
            'record_list_before',
            this.sql.listRecordsBefore,
            [collection, limit, beforeId],
          );
    return rows.map(row => ({ id: row.id, value: row.value, version: Number(row.version) }));
  }

  protected async doRemoveRecord(collection: string, id: string): Promise<boolean> {
    const result = await this.query('record_remove', this.sql.removeRecord, [collection, id]);
    return (result.rowCount ?? 0) > 0;
  }

  protected async doCountRecords(collection: string): Promise<number> {
    const { rows } = await this.query<{ count: string }>('record_count', this.sql.countRecords, [
      collection,
    ]);
    return Number(rows[0]?.count ?? 0);
  }

  // ---------------------------------------------------------------- publish / subscribe

  protected async doPublish(channel: string, message: string): Promise<void> {
    const payload = JSON.stringify([channel, message]);
    if (Buffer.byteLength(payload) <= MAX_INLINE_PAYLOAD_BYTES) {
      await this.query('notify', 'SELECT pg_notify($1, $2)', [this.names.channel, payload]);
    } else {
      await this.query('notify_large', this.sql.publishLarge, [
        this.names.channel,
        channel,
        message,
      ]);
    }
  }

  protected startSubscriber(): Promise<void> {
    this.listener ??= new PgListener(
      () => this.newClient(this.options.statementTimeoutMs),
      this.names.channel,
      payload => this.receive(payload),
      () => this.hasSubscribers && !this.closed,
      this.options.logger,
    );
    return this.listener.ensure();
  }

  private receive(payload: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch {
      return; // not ours (someone NOTIFYing on our channel by hand)
    }
    if (!Array.isArray(parsed) || typeof parsed[0] !== 'string') return;
    const [channel, message, id] = parsed as [string, unknown, unknown];
    if (typeof message === 'string') {
      this.deliver(channel, message);
    } else if (typeof id === 'number' || typeof id === 'string') {
      this.background(async () => {
        const { rows } = await this.query<{ payload: string }>('message', this.sql.fetchMessage, [
          id,
        ]);
        if (rows[0] !== undefined) this.deliver(channel, rows[0].payload);
      });
    }
  }

  // ---------------------------------------------------------------- sweep

  protected async doSweep(): Promise<number> {
    let deleted = 0;
    for (const [index, statement] of this.sql.sweep.entries()) {
      const values = index === this.sql.sweep.length - 1 ? [this.options.messageRetentionMs] : [];
      const result = await this.query(`sweep_${index}`, statement, values);
      deleted += result.rowCount ?? 0;
    }
    return deleted;
  }
}
