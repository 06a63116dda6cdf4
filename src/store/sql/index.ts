/**
 * The SQL state stores (PostgreSQL, MySQL / MariaDB). Nothing here loads a
 * driver until a store is created: `pg` and `mysql2` are the application's.
 */
export { createSqlStore } from './create-sql-store';
export { SqlStoreError, type SqlDialect, type SqlStoreFailure } from './errors';
export type { Migration, MigrationReport } from './migrations';
export { MySqlStore, type MySqlStoreOptions } from './mysql/mysql-store';
export { SQL_STORE_DEFAULTS, type SqlStoreOptions } from './options';
export { PostgresStore, type PostgresStoreOptions } from './postgres/postgres-store';
export { sqlMigrationScript } from './script';
export { SqlStore } from './sql-store';
