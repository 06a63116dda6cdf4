import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { SqlDialect } from '../../../src/store/sql/errors';
import { sqlNames } from '../../../src/store/sql/names';
import { MySqlStore, type MySqlStoreOptions } from '../../../src/store/sql/mysql/mysql-store';
import {
  PostgresStore,
  type PostgresStoreOptions,
} from '../../../src/store/sql/postgres/postgres-store';
import type { SqlStore } from '../../../src/store/sql/sql-store';
import { SERVICES } from '../../support/services';

/**
 * Shared rig of the SQL store suites: DSNs of the shared servers, a table
 * prefix unique to each run (the servers are shared with other suites and
 * other runs), and clean-up that drops exactly the objects of that prefix.
 */
export const PG_DSN = `postgresql://postgres@${SERVICES.postgres.host}:${SERVICES.postgres.port}/test`;
export const MYSQL_DSN = `mysql://root@${SERVICES.mysql.host}:${SERVICES.mysql.port}/test`;

export function dsnOf(dialect: SqlDialect): string {
  return dialect === 'postgresql' ? PG_DSN : MYSQL_DSN;
}

/** A table prefix no other run uses (≤ 32 characters). */
export function uniquePrefix(label: string): string {
  return `bt_${label}_${randomBytes(4).toString('hex')}`.slice(0, 32);
}

export type StoreOptionsFor<D extends SqlDialect> = Omit<
  D extends 'postgresql' ? PostgresStoreOptions : MySqlStoreOptions,
  'dsn' | 'keyPrefix'
>;

export function createSqlTestStore(
  dialect: SqlDialect,
  keyPrefix: string,
  options: Partial<PostgresStoreOptions & MySqlStoreOptions> = {},
  dsn: string = dsnOf(dialect),
): SqlStore {
  const merged = { sweepIntervalMs: 0, ...options, dsn, keyPrefix };
  return dialect === 'postgresql' ? new PostgresStore(merged) : new MySqlStore(merged);
}

/** Plain SQL against the shared server, outside any store (what an operator would type). */
export class PlainSql {
  private constructor(
    readonly dialect: SqlDialect,
    private readonly pgPool: pg.Pool | undefined,
    private readonly mysqlPool: mysql.Pool | undefined,
  ) {}

  static open(dialect: SqlDialect, dsn: string = dsnOf(dialect)): PlainSql {
    return dialect === 'postgresql'
      ? new PlainSql(dialect, new pg.Pool({ connectionString: dsn, max: 2 }), undefined)
      : new PlainSql(
          dialect,
          undefined,
          mysql.createPool({ uri: dsn, connectionLimit: 2, multipleStatements: true }),
        );
  }

  /** Run a script of several statements (psql / mysql client style). */
  async script(text: string): Promise<void> {
    if (this.pgPool !== undefined) await this.pgPool.query(text);
    else await this.mysqlPool!.query(text);
  }

  /** Rows of one statement (`$1`-style placeholders on PostgreSQL, `?` on MySQL). */
  async query<T = Record<string, unknown>>(sql: string, values: unknown[] = []): Promise<T[]> {
    if (this.pgPool !== undefined) return (await this.pgPool.query(sql, values)).rows as T[];
    const [rows] = await this.mysqlPool!.query(sql, values);
    return rows as T[];
  }

  /** Drop every table, view, sequence and function of `prefix`. */
  async dropPrefix(prefix: string): Promise<void> {
    const n = sqlNames(this.dialect, prefix);
    const views = [
      n.deadLettersView,
      n.idempotencyView,
      n.windowsView,
      n.maximaView,
      n.rateLimitsView,
    ];
    const tables = [n.kv, n.permits, n.collections, n.records, n.messages, n.migrations];
    for (const view of views) await this.query(`DROP VIEW IF EXISTS ${view}`);
    for (const table of tables) await this.query(`DROP TABLE IF EXISTS ${table}`);
    if (this.dialect === 'postgresql') {
      await this.query(`DROP SEQUENCE IF EXISTS ${n.versionSeq}, ${n.recordSeq}`);
      await this.query(
        `DROP FUNCTION IF EXISTS ${n.fnJsonb}(text), ${n.fnJsonMs}(jsonb), ${n.fnJsonInt}(jsonb)`,
      );
    }
  }

  /** Tables, views and sequences of `prefix` still present (for clean-up checks). */
  async objectsOf(prefix: string): Promise<string[]> {
    const rows =
      this.dialect === 'postgresql'
        ? await this.query<{ name: string }>(
            `SELECT relname AS name FROM pg_class WHERE relname LIKE $1 AND relkind IN ('r', 'v', 'S')`,
            [`${prefix.toLowerCase()}\\_%`],
          )
        : await this.query<{ name: string }>(
            'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE ?',
            [`${prefix.toLowerCase()}\\_%`],
          );
    return rows.map(row => row.name).sort();
  }

  async close(): Promise<void> {
    await this.pgPool?.end();
    await this.mysqlPool?.end();
  }
}
