import { ConfigError } from '../../config/config-error';
import type { BaldurConfig } from '../../config/load';
import type { Logger } from '../../log';
import { StoreError } from '../../core/store-errors';
import { loadDriver } from './load-driver';
import { MySqlStore } from './mysql/mysql-store';
import { dialectOf, type SqlStoreOptions } from './options';
import { PostgresStore } from './postgres/postgres-store';
import type { SqlStore } from './sql-store';

/**
 * The SQL store `store.sqlDsn` asks for (PostgreSQL or MySQL/MariaDB). It
 * does not connect: the first call (or `start()`) does, and migrates. The
 * driver (`pg` / `mysql2`, the application's own) is resolved here, so a
 * missing one is a configuration error at start, not a failure per call.
 *
 * Bounds follow the per-call budget of the resilient decorator
 * (`store.timeout`): a statement the decorator stopped waiting for is killed
 * by the server soon after, so abandoned calls cannot pile up on the pool.
 */
export function createSqlStore(config: BaldurConfig, options: { logger?: Logger } = {}): SqlStore {
  const store = config.store;
  const dsn = store.sqlDsn;
  if (dsn === undefined) throw new Error('createSqlStore needs store.sqlDsn');
  const issue = (problem: string): ConfigError =>
    new ConfigError([{ path: 'store.sqlDsn', value: '[redacted]', problem, source: undefined }]);
  let dialect;
  try {
    dialect = dialectOf(dsn);
    new URL(dsn);
  } catch {
    throw issue(
      'the value (not shown: it may hold credentials) is not a postgresql:// or mysql:// URL',
    );
  }
  try {
    loadDriver(dialect === 'postgresql' ? 'pg' : 'mysql2', dialect);
  } catch (error) {
    if (!(error instanceof StoreError)) throw error;
    throw issue(
      `a ${dialect === 'postgresql' ? 'PostgreSQL' : 'MySQL'} store needs the ${dialect === 'postgresql' ? 'pg' : 'mysql2'} package, which is not installed; run \`npm install ${dialect === 'postgresql' ? 'pg' : 'mysql2'}\``,
    );
  }
  const boundMs = Math.max(1_000, store.timeout * 4);
  const sqlOptions: SqlStoreOptions = {
    dsn,
    keyPrefix: store.keyPrefix,
    poolSize: store.sqlPoolSize,
    migrate: store.sqlMigrate,
    pollIntervalMs: store.sqlPollInterval,
    statementTimeoutMs: boundMs,
    connectTimeoutMs: boundMs,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  };
  return dialect === 'postgresql' ? new PostgresStore(sqlOptions) : new MySqlStore(sqlOptions);
}
