import type { Logger } from '../../log';
import { SqlStoreError, type SqlDialect } from './errors';
import type { SqlNames } from './names';

/**
 * A versioned schema change. Versions are applied in order, each exactly once
 * per database and prefix, and recorded in `<prefix>_migrations`. Statements
 * must be idempotent (`IF NOT EXISTS`, `CREATE OR REPLACE`): MySQL cannot run
 * DDL inside a transaction, so a migration interrupted half-way is simply run
 * again. Never edit a released migration; append a new version (a new view
 * for a feature's JSON is one `CREATE OR REPLACE VIEW` migration).
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly statements: readonly string[];
}

/** The migrations of one dialect, for one set of table names. */
export type MigrationSet = (names: SqlNames) => readonly Migration[];

/** The schema version the store's own statements need (views come later and are optional). */
export const REQUIRED_SCHEMA_VERSION = 1;

export interface MigrationReport {
  /** Versions this run applied (empty when another process had, or nothing was pending). */
  readonly applied: readonly number[];
  /** Highest version recorded in the database after the run. */
  readonly version: number;
  /** Highest version this code knows. */
  readonly latest: number;
}

export function latestVersion(migrations: readonly Migration[]): number {
  return migrations.reduce((max, m) => Math.max(max, m.version), 0);
}

/** The DDL of the migrations table, per dialect. */
export function migrationsTableSql(dialect: SqlDialect, names: SqlNames): string {
  return dialect === 'postgresql'
    ? `CREATE TABLE IF NOT EXISTS ${names.migrations} (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`
    : `CREATE TABLE IF NOT EXISTS ${names.migrations} (
  version INT NOT NULL PRIMARY KEY,
  name VARCHAR(200) NOT NULL,
  applied_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`;
}

const DIALECT_LABEL: Record<SqlDialect, string> = { postgresql: 'PostgreSQL', mysql: 'MySQL' };

/**
 * With migration off (`store.sqlMigrate=false`): accept a schema at `version`
 * only if it is new enough for the store's statements; warn when the plain-SQL
 * views of later versions are missing.
 */
export function acceptExistingSchema(
  dialect: SqlDialect,
  version: number | undefined,
  names: SqlNames,
  migrations: readonly Migration[],
  logger: Logger | undefined,
): MigrationReport {
  const label = DIALECT_LABEL[dialect];
  const latest = latestVersion(migrations);
  if (version === undefined || version < REQUIRED_SCHEMA_VERSION) {
    throw new SqlStoreError(
      `${label} store tables for prefix "${names.prefix}" are ${version === undefined ? 'missing' : `at schema version ${version}`}; ` +
        `automatic migration is off (store.sqlMigrate=false): apply the schema (sqlMigrationScript) or turn it on`,
      'schema',
      dialect,
      'start',
    );
  }
  if (version < latest) {
    logger?.warn(
      `${label} store schema for prefix "${names.prefix}" is at version ${version}, this version ships ${latest}; ` +
        `the store works, but the plain-SQL views of later versions are missing`,
    );
  }
  return { applied: [], version, latest };
}
