import type { Logger } from '../../log';
import { SqlStoreError, type SqlDialect } from './errors';

export interface SqlStoreOptions {
  /** `postgresql://user:password@host:5432/db?…` or `mysql://user:password@host:3306/db?…`. */
  readonly dsn: string;
  /** Table-name prefix (`store.keyPrefix`), default `baldur`. */
  readonly keyPrefix?: string;
  /** Connections the store may open besides the pub/sub one (default 4): the agent must never starve the app's database. */
  readonly poolSize?: number;
  /** Run the versioned migrations at start (default true). Off: only check the schema version. */
  readonly migrate?: boolean;
  /** MySQL has no LISTEN/NOTIFY: subscribers poll the messages table this often (default 250 ms). */
  readonly pollIntervalMs?: number;
  /** Server-side bound of every statement, and of lock waits (default 5 s). */
  readonly statementTimeoutMs?: number;
  /** Bound of opening a connection and of waiting for a pooled one (default 3 s). */
  readonly connectTimeoutMs?: number;
  /** Bound of the whole migration, waiting for another process's lock included (default 60 s). */
  readonly migrationTimeoutMs?: number;
  /** Period of the sweep deleting expired rows and old messages (default 60 s; 0 = no sweep). */
  readonly sweepIntervalMs?: number;
  /** How long published messages stay in the messages table (default 60 s). */
  readonly messageRetentionMs?: number;
  /** `application_name` (PostgreSQL) / connection attribute, to spot the agent's sessions. */
  readonly applicationName?: string;
  readonly logger?: Logger;
}

export interface ResolvedSqlStoreOptions {
  readonly dsn: string;
  readonly keyPrefix: string;
  readonly poolSize: number;
  readonly migrate: boolean;
  readonly pollIntervalMs: number;
  readonly statementTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly migrationTimeoutMs: number;
  readonly sweepIntervalMs: number;
  readonly messageRetentionMs: number;
  readonly applicationName: string;
  readonly logger: Logger | undefined;
}

export const SQL_STORE_DEFAULTS = Object.freeze({
  keyPrefix: 'baldur',
  poolSize: 4,
  migrate: true,
  pollIntervalMs: 250,
  statementTimeoutMs: 5_000,
  connectTimeoutMs: 3_000,
  migrationTimeoutMs: 60_000,
  sweepIntervalMs: 60_000,
  messageRetentionMs: 60_000,
  applicationName: 'baldur-store',
});

export function resolveSqlStoreOptions(options: SqlStoreOptions): ResolvedSqlStoreOptions {
  const d = SQL_STORE_DEFAULTS;
  return {
    dsn: options.dsn,
    keyPrefix: options.keyPrefix ?? d.keyPrefix,
    poolSize: Math.max(1, Math.floor(options.poolSize ?? d.poolSize)),
    migrate: options.migrate ?? d.migrate,
    pollIntervalMs: Math.max(5, options.pollIntervalMs ?? d.pollIntervalMs),
    statementTimeoutMs: Math.max(100, options.statementTimeoutMs ?? d.statementTimeoutMs),
    connectTimeoutMs: Math.max(100, options.connectTimeoutMs ?? d.connectTimeoutMs),
    migrationTimeoutMs: Math.max(1_000, options.migrationTimeoutMs ?? d.migrationTimeoutMs),
    sweepIntervalMs: Math.max(0, options.sweepIntervalMs ?? d.sweepIntervalMs),
    messageRetentionMs: Math.max(1_000, options.messageRetentionMs ?? d.messageRetentionMs),
    applicationName: options.applicationName ?? d.applicationName,
    logger: options.logger,
  };
}

/** The dialect a DSN names, or an error naming the accepted schemes. */
export function dialectOf(dsn: string): SqlDialect {
  const scheme = /^([a-z0-9+]+):\/\//i.exec(dsn)?.[1]?.toLowerCase();
  if (scheme === 'postgres' || scheme === 'postgresql') return 'postgresql';
  if (scheme === 'mysql' || scheme === 'mariadb') return 'mysql';
  throw new SqlStoreError(
    'store.sqlDsn must be a postgresql:// or mysql:// URL',
    'rejected',
    'postgresql',
    'configure',
  );
}

/** The DSN without its password, for log lines. */
export function redactDsn(dsn: string): string {
  try {
    const url = new URL(dsn);
    if (url.password !== '') url.password = '***';
    return url.toString();
  } catch {
    return '<unparsable DSN>';
  }
}
